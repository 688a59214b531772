/**
 * Reads the forms of a server-rendered HTML page the way a browser submits them (HTML Living
 * Standard, "Constructing the entry list"): every named input with its value (checkboxes and radios
 * only when checked), and the submit buttons, of which only the one pressed is sent. Enough for the
 * gateway's own pages, which are plain HTML without script; not a general HTML parser.
 */

export interface FormButton {
  name: string | undefined;
  value: string;
}

export interface HtmlForm {
  /** The `action` attribute, unresolved ("" = the page's own URL). */
  action: string;
  method: string;
  /** Named fields a browser would send, in document order. */
  fields: [string, string][];
  /** Submit buttons (`<button>` without another type, `<input type=submit>`). */
  buttons: FormButton[];
}

const FORM = /<form\b([^>]*)>([\s\S]*?)<\/form>/gi;
const CONTROL = /<(input|button)\b([^>]*)>/gi;
const ATTRIBUTE = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
const ENTITY = /&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos);/gi;
const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decode(text: string): string {
  return text.replace(ENTITY, (_, entity: string) => {
    const lower = entity.toLowerCase();
    if (lower.startsWith("#x")) return String.fromCodePoint(Number.parseInt(lower.slice(2), 16));
    if (lower.startsWith("#")) return String.fromCodePoint(Number.parseInt(lower.slice(1), 10));
    return NAMED[lower] ?? `&${entity};`;
  });
}

function attributes(text: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const match of text.matchAll(ATTRIBUTE)) {
    const name = (match[1] ?? "").toLowerCase();
    if (!found.has(name)) found.set(name, decode(match[2] ?? match[3] ?? match[4] ?? ""));
  }
  return found;
}

export function parseForms(html: string): HtmlForm[] {
  const forms: HtmlForm[] = [];
  for (const match of html.matchAll(FORM)) {
    const formAttributes = attributes(match[1] ?? "");
    const form: HtmlForm = {
      action: formAttributes.get("action") ?? "",
      method: (formAttributes.get("method") ?? "get").toLowerCase(),
      fields: [],
      buttons: [],
    };
    for (const control of (match[2] ?? "").matchAll(CONTROL)) {
      const tag = (control[1] ?? "").toLowerCase();
      const attrs = attributes(control[2] ?? "");
      const type = (attrs.get("type") ?? (tag === "button" ? "submit" : "text")).toLowerCase();
      const name = attrs.get("name");
      if (type === "submit") {
        form.buttons.push({ name, value: attrs.get("value") ?? "" });
        continue;
      }
      if (!name || attrs.has("disabled") || type === "button" || type === "reset" || type === "image") continue;
      if ((type === "checkbox" || type === "radio") && !attrs.has("checked")) continue;
      form.fields.push([name, attrs.get("value") ?? (type === "checkbox" || type === "radio" ? "on" : "")]);
    }
    forms.push(form);
  }
  return forms;
}

/** The form's entries with `values` filled in (replacing or adding), plus the pressed button's name=value. */
export function formBody(form: HtmlForm, values: Record<string, string>, button?: FormButton): URLSearchParams {
  const body = new URLSearchParams();
  const filled = new Set<string>();
  for (const [name, value] of form.fields) {
    if (name in values) {
      if (!filled.has(name)) body.append(name, values[name] as string);
      filled.add(name);
    } else {
      body.append(name, value);
    }
  }
  for (const [name, value] of Object.entries(values)) if (!filled.has(name)) body.append(name, value);
  if (button?.name) body.append(button.name, button.value);
  return body;
}
