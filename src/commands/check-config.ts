/** `check-config --config FILE`: the same check as `run --check`. */
import { type Command, configOption, printWarnings, readConfig } from "./shared.js";

export const checkConfigCommand: Command = {
  name: "check-config",
  summary: "validate a configuration file and exit (every problem as FILE:LINE:COL: path: message)",
  usage: "matrix-auth-gateway check-config [--config FILE]",
  options: configOption,
  async main(values, io) {
    const file = (values.config as string | undefined) ?? "config/gateway.yaml";
    const config = readConfig(file, io);
    if (!config) return 2;
    printWarnings(file, config, io);
    io.out(`${file}: configuration is valid\n`);
    return 0;
  },
};
