/**
 * A Prometheus histogram labelled by route class, for the two latencies every request records. It is
 * registered in the gateway's prom-client Registry and exposed like prom-client's own Histogram (the
 * same `_bucket` / `_sum` / `_count` series), but an observation is a bucket search and three additions
 * on a per-route record: prom-client's `observe()` validates the labels and builds a label-hash string
 * on each call, which was the largest gateway cost left in the proxied hot path's profile.
 */
import type { Metric, Registry } from "prom-client";

interface RouteRecord {
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

interface Value {
  labels: { route: string; le?: number | string };
  value: number;
  metricName: string;
}

/** What prom-client's Registry reads from a metric to write the exposition text. */
interface HistogramData {
  name: string;
  help: string;
  type: "histogram";
  aggregator: "sum";
  values: Value[];
}

export class RouteHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly records = new Map<string, RouteRecord>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    // prom-client's Registry asks a metric only for these fields and `get()` / `reset()`.
    registry.registerMetric(this as unknown as Metric);
  }

  observe(route: string, seconds: number): void {
    let record = this.records.get(route);
    if (!record) {
      record = { counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
      this.records.set(route, record);
    }
    let bucket = 0;
    while (bucket < this.buckets.length && seconds > (this.buckets[bucket] as number)) bucket++;
    record.counts[bucket] = (record.counts[bucket] as number) + 1;
    record.sum += seconds;
    record.count++;
  }

  async get(): Promise<HistogramData> {
    const values: Value[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const [route, record] of this.records) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += record.counts[i] as number;
        values.push({ labels: { le, route }, value: cumulative, metricName: bucketName });
      });
      values.push({ labels: { le: "+Inf", route }, value: record.count, metricName: bucketName });
      values.push({ labels: { route }, value: record.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { route }, value: record.count, metricName: `${this.name}_count` });
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }

  reset(): void {
    this.records.clear();
  }
}
