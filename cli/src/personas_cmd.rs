//! `fidosim personas`: the presets `fidosim run --persona NAME` starts
//! from, as text or JSON.

use fidosim_daemon::personas::Persona;

/// The listing: a block per persona, or a JSON array.
pub(crate) fn show(all: &[Persona], json: bool) -> String {
    if json {
        let list: Vec<serde_json::Value> = all
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "description": p.description,
                    "cannotCopy": p.cannot_copy,
                    "settings": p.settings,
                    "source": p.source,
                })
            })
            .collect();
        return format!(
            "{}\n",
            serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into())
        );
    }
    let mut out = String::new();
    for p in all {
        out.push_str(&format!(
            "{}  ({})\n  {}\n",
            p.name, p.source, p.description
        ));
        if let Some(c) = &p.cannot_copy {
            out.push_str(&format!("  cannot copy: {c}\n"));
        }
        if p.settings.is_empty() {
            out.push_str("  settings: the defaults of `fidosim run`\n");
        } else {
            let flags: Vec<String> = p
                .settings
                .iter()
                .map(|(k, v)| {
                    let value = fidosim_daemon::personas::cli_value(v).unwrap_or_default();
                    if value == "true" && v.is_bool() {
                        format!("--{k}")
                    } else {
                        format!("--{k} {value}")
                    }
                })
                .collect();
            out.push_str(&format!("  settings: {}\n", flags.join(" ")));
        }
        out.push('\n');
    }
    out
}
