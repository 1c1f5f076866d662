// Values of the `_cloudflare_compat_flags` module the SDK reads. In production workerd fills it
// from its compatibility-date table; here only the flags the pinned SDK reads are modelled (enable
// flag, disable flag, default-on date, "implied by python_workers after date"), from workerd's
// compatibility-date.capnp. Flags listed in wrangler.toml are true; every other name reads false.
const KNOWN = {
  python_workflows_implicit_dependencies: {
    disable: "no_python_workflows_implicit_dependencies",
    impliedByPythonWorkersAfter: "2026-02-25",
  },
  python_request_headers_preserve_commas: {
    disable: "disable_python_request_headers_preserve_commas",
    enableDate: "2026-02-17",
  },
};

export function compatFlagValues(flags, date) {
  const values = Object.fromEntries(flags.map((f) => [f, true]));
  for (const [name, rule] of Object.entries(KNOWN)) {
    let on = false;
    if (rule.enableDate && date >= rule.enableDate) on = true;
    if (rule.impliedByPythonWorkersAfter && flags.includes("python_workers") && date >= rule.impliedByPythonWorkersAfter) {
      on = true;
    }
    if (flags.includes(name)) on = true;
    if (flags.includes(rule.disable)) on = false;
    values[name] = on;
  }
  return values;
}
