// Coverage is measured on src/ only: every test file maps to the whole source tree.
export default () => ["src/**"];
