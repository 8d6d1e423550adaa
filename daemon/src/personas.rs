//! Personas: presets of a whole device (`fidosim run --persona NAME`),
//! built in (`personas.toml`) or from a TOML file of the user's own in the
//! same format. A persona's settings are `fidosim run` flags without
//! dashes; whatever is given beside `--persona` (a flag, a key of the same
//! `[device.NAME]` table or JSON object) wins over the persona's value.

use std::path::Path;

use crate::settings::DeviceSettings;

/// The built-in personas, in the format of a user's persona file.
pub const BUILTIN: &str = include_str!("personas.toml");

/// Where the built-in personas come from, in listings.
pub const BUILTIN_SOURCE: &str = "built-in";

/// One persona.
#[derive(Debug, Clone, PartialEq)]
pub struct Persona {
    /// Its name (`--persona NAME`).
    pub name: String,
    /// What it stands for.
    pub description: String,
    /// What it cannot copy of the devices it stands for.
    pub cannot_copy: Option<String>,
    /// Its settings: `fidosim run` flags without dashes.
    pub settings: toml::Table,
    /// `built-in`, or the file it comes from.
    pub source: String,
}

/// The keys a settings table of a persona may not hold: a persona does not
/// name another.
const NOT_IN_A_PERSONA: &[&str] = &["persona", "persona-file"];

/// Reads the personas of a file's text (`[persona.NAME]` tables with
/// `description`, an optional `cannot-copy` and a `settings` table).
/// `source` names the file in messages.
pub fn parse(text: &str, source: &str) -> Result<Vec<Persona>, String> {
    let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        format!("{source}: {}", crate::config::toml_problem(text, &e))
    })?;
    let mut out = Vec::new();
    for (key, value) in &doc {
        if key != "persona" {
            return Err(format!(
                "{source}: unexpected `{key}`; a persona file holds [persona.NAME] tables"
            ));
        }
        let toml::Value::Table(personas) = value else {
            return Err(format!(
                "{source}: `persona` must hold [persona.NAME] tables"
            ));
        };
        for (name, table) in personas {
            out.push(one(name, table, source)?);
        }
    }
    Ok(out)
}

fn one(name: &str, table: &toml::Value, source: &str) -> Result<Persona, String> {
    let place = format!("{source}: [persona.{name}]");
    crate::config::check_device_name(name)
        .map_err(|e| format!("{place}: {}", e.0.replace("device name", "persona name")))?;
    let toml::Value::Table(table) = table else {
        return Err(format!("{place} must be a table"));
    };
    let mut description = None;
    let mut cannot_copy = None;
    let mut settings = toml::Table::new();
    for (key, value) in table {
        match (key.as_str(), value) {
            ("description", toml::Value::String(s)) => description = Some(s.clone()),
            ("cannot-copy", toml::Value::String(s)) => cannot_copy = Some(s.clone()),
            ("settings", toml::Value::Table(t)) => settings = t.clone(),
            ("description" | "cannot-copy", _) => {
                return Err(format!("{place}: `{key}` must be a string"))
            }
            ("settings", _) => {
                return Err(format!(
                    "{place}: `settings` must be a table of `fidosim run` flags without dashes"
                ))
            }
            _ => {
                return Err(format!(
                "{place}: unexpected `{key}`; a persona has description, cannot-copy and settings"
            ))
            }
        }
    }
    let description = description.ok_or_else(|| format!("{place}: `description` is missing"))?;
    if let Some(k) = settings
        .keys()
        .find(|k| NOT_IN_A_PERSONA.contains(&k.as_str()))
    {
        return Err(format!(
            "{place}.settings: `{k}` cannot be part of a persona"
        ));
    }
    // The settings must be settings a device can have.
    DeviceSettings::from_table(&format!("persona.{name}.settings"), &settings)
        .map_err(|e| format!("{source}: {e}"))?;
    Ok(Persona {
        name: name.to_owned(),
        description,
        cannot_copy,
        settings,
        source: source.to_owned(),
    })
}

/// The built-in personas, then those of `file`; a persona of the file
/// takes the place of a built-in one of the same name.
pub fn all(file: Option<&Path>) -> Result<Vec<Persona>, String> {
    let mut out = parse(BUILTIN, BUILTIN_SOURCE)?;
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read the persona file {}: {}; give a TOML file of [persona.NAME] tables (`fidosim personas --help`)",
                path.display(),
                crate::io_reason(&e)
            )
        })?;
        for p in parse(&text, &path.display().to_string())? {
            match out.iter_mut().find(|q| q.name == p.name) {
                Some(q) => *q = p,
                None => out.push(p),
            }
        }
    }
    Ok(out)
}

/// The persona called `name`, among the built-in ones and those of `file`.
pub fn find(name: &str, file: Option<&Path>) -> Result<Persona, String> {
    let all = all(file)?;
    let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
    all.iter().find(|p| p.name == name).cloned().ok_or_else(|| {
        format!(
            "unknown persona `{name}`; the personas are {} (`fidosim personas` describes them{})",
            names.join(", "),
            if file.is_none() {
                "; --persona-file FILE adds your own"
            } else {
                ""
            }
        )
    })
}

/// The persona's settings with `explicit` over them: what a table that
/// names a persona stands for. The persona keys themselves are dropped.
pub fn overlay(persona: &Persona, explicit: &toml::Table) -> toml::Table {
    let mut out = persona.settings.clone();
    for (k, v) in explicit {
        if !NOT_IN_A_PERSONA.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// A persona setting as a command-line value: strings as they are,
/// numbers and booleans written out, lists joined with commas (the
/// list flags take comma-separated values).
pub fn cli_value(value: &toml::Value) -> Option<String> {
    Some(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Array(items) => items
            .iter()
            .map(cli_value)
            .collect::<Option<Vec<_>>>()?
            .join(","),
        toml::Value::Datetime(_) | toml::Value::Table(_) => return None,
    })
}

/// `cmd` (the `fidosim run` command) with the persona's settings as its
/// defaults, so that flags given on the command line win over them.
pub fn with_defaults(mut cmd: clap::Command, persona: &Persona) -> clap::Command {
    for (key, value) in &persona.settings {
        let Some(id) = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()))
            .map(|a| a.get_id().clone())
        else {
            continue;
        };
        if let Some(v) = cli_value(value) {
            cmd = cmd.mut_arg(id, |a| a.default_value(v));
        }
    }
    cmd
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_personas_are_valid_devices() {
        let listed = all(None).unwrap();
        let names: Vec<_> = listed.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "ctap21-fingerprint",
                "ctap21-pin",
                "fidosim",
                "hardware-quirks",
                "synced-passkey"
            ]
        );
        for p in &listed {
            assert!(!p.description.is_empty(), "{}", p.name);
            assert!(p.cannot_copy.is_some(), "{}", p.name);
            assert_eq!(p.source, BUILTIN_SOURCE);
            let s = DeviceSettings::from_table(&p.name, &p.settings).unwrap();
            crate::config::RunConfig::from_settings(&p.name, s).unwrap();
        }
    }

    #[test]
    fn explicit_settings_win_over_the_persona() {
        let p = find("synced-passkey", None).unwrap();
        let explicit: toml::Table = "persona = \"synced-passkey\"\ncounter = \"global\"\n"
            .parse()
            .unwrap();
        let merged = overlay(&p, &explicit);
        assert_eq!(merged["counter"].as_str(), Some("global"));
        assert_eq!(merged["backup"].as_str(), Some("synced"));
        assert!(!merged.contains_key("persona"));
    }

    #[test]
    fn a_user_file_adds_and_replaces_personas_and_its_mistakes_are_named() {
        let dir = std::env::temp_dir().join(format!("fidosim-personas-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("mine.toml");
        std::fs::write(
            &file,
            "[persona.lab-key]\ndescription = \"ours\"\n[persona.lab-key.settings]\n\
             algorithms = [\"eddsa\"]\nuv-retries = 3\n\
             [persona.fidosim]\ndescription = \"replaced\"\n",
        )
        .unwrap();
        let listed = all(Some(&file)).unwrap();
        let mine = listed.iter().find(|p| p.name == "lab-key").unwrap();
        assert_eq!(mine.source, file.display().to_string());
        assert_eq!(
            cli_value(&mine.settings["algorithms"]).as_deref(),
            Some("eddsa")
        );
        assert_eq!(
            cli_value(&mine.settings["uv-retries"]).as_deref(),
            Some("3")
        );
        assert_eq!(
            listed
                .iter()
                .find(|p| p.name == "fidosim")
                .unwrap()
                .description,
            "replaced"
        );
        let e = find("nobody", Some(&file)).unwrap_err();
        assert!(
            e.contains("unknown persona `nobody`") && e.contains("lab-key"),
            "{e}"
        );
        for (text, says) in [
            (
                "[persona.x]\ndescription = \"d\"\n[persona.x.settings]\nuv = \"maybe\"\n",
                "uv",
            ),
            (
                "[persona.x]\ndescription = \"d\"\n[persona.x.settings]\nwings = 2\n",
                "wings",
            ),
            (
                "[persona.x]\n[persona.x.settings]\n",
                "`description` is missing",
            ),
            (
                "[persona.x]\ndescription = \"d\"\ncolour = 1\n",
                "unexpected `colour`",
            ),
            (
                "[persona.x]\ndescription = \"d\"\n[persona.x.settings]\npersona = \"y\"\n",
                "cannot be part",
            ),
            ("[other]\n", "unexpected `other`"),
            ("[persona.\"-x\"]\ndescription = \"d\"\n", "persona name"),
            ("not toml [", "mine.toml"),
        ] {
            std::fs::write(&file, text).unwrap();
            let e = all(Some(&file)).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
        let e = all(Some(&dir.join("missing.toml"))).unwrap_err();
        assert!(e.contains("cannot read the persona file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
