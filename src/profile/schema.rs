//! Validation of a profile against Apple's device-management YAML (apple/device-management,
//! `mdm/profiles/*.yaml`), read at run time so the rules are Apple's, not a hand copy: key
//! names, plist types, `rangelist`, `format`, `range`, required keys, and platform support for
//! the profile's `TargetDeviceType`. Used by `mxconf verify` and by the tests of every profile.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use plist::{Dictionary, Value};
use serde::Deserialize;

/// Why the schema files could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot read {}: {source}", .file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not an Apple payload schema: {source}", .file.display())]
    Parse {
        file: PathBuf,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("{}: key {key}: bad format pattern: {source}", .file.display())]
    Pattern {
        file: PathBuf,
        key: String,
        #[source]
        source: regex::Error,
    },
}

/// One schema file: `payload` + `payloadkeys`, the shape Apple's device-management repository
/// documents for MDM profiles.
#[derive(Debug, Deserialize)]
struct SchemaFile {
    payload: PayloadInfo,
    #[serde(default)]
    payloadkeys: Vec<KeySpec>,
}

#[derive(Debug, Deserialize)]
struct PayloadInfo {
    payloadtype: String,
    #[serde(rename = "supportedOS", default)]
    supported_os: BTreeMap<String, OsSupport>,
}

#[derive(Debug, Deserialize)]
struct OsSupport {
    /// A version (`'4.0'`) or `n/a`; YAML may also give it as a bare number.
    introduced: Option<serde_yaml_ng::Value>,
}

impl OsSupport {
    fn unsupported(&self) -> bool {
        self.introduced
            .as_ref()
            .and_then(serde_yaml_ng::Value::as_str)
            == Some("n/a")
    }
}

#[derive(Debug, Deserialize)]
struct KeySpec {
    key: String,
    #[serde(rename = "type")]
    kind: String,
    presence: Option<String>,
    rangelist: Option<Vec<serde_yaml_ng::Value>>,
    format: Option<String>,
    range: Option<Bounds>,
    #[serde(default)]
    subkeys: Vec<KeySpec>,
    #[serde(rename = "supportedOS", default)]
    supported_os: BTreeMap<String, OsSupport>,
    #[serde(skip)]
    pattern: Option<regex::Regex>,
}

#[derive(Debug, Deserialize)]
struct Bounds {
    min: Option<f64>,
    max: Option<f64>,
}

/// Apple's profile schema: the top level, the common payload keys, and every payload type
/// found in the directory.
#[derive(Debug)]
pub struct Schema {
    top_level: Vec<KeySpec>,
    common: Vec<KeySpec>,
    payloads: HashMap<String, SchemaFile>,
}

/// The wildcard key name of a dictionary whose keys are free (as in ConsentText).
const ANY: &str = "ANY";

impl Schema {
    /// Loads `TopLevel.yaml`, `CommonPayloadKeys.yaml` and every `com.apple.*.yaml` in `dir`
    /// (e.g. a newer release of Apple's `mdm/profiles`).
    pub fn load(dir: &Path) -> Result<Self, SchemaError> {
        let read = |path: PathBuf| {
            std::fs::read_to_string(&path)
                .map(|text| (path.clone(), text))
                .map_err(|source| SchemaError::Read { file: path, source })
        };
        let mut files = vec![
            read(dir.join("TopLevel.yaml"))?,
            read(dir.join("CommonPayloadKeys.yaml"))?,
        ];
        let entries = std::fs::read_dir(dir).map_err(|source| SchemaError::Read {
            file: dir.to_path_buf(),
            source,
        })?;
        for entry in entries {
            let path = entry
                .map_err(|source| SchemaError::Read {
                    file: dir.to_path_buf(),
                    source,
                })?
                .path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.starts_with("com.apple.") && name.ends_with(".yaml") {
                files.push(read(path)?);
            }
        }
        Self::from_texts(
            files
                .iter()
                .map(|(path, text)| (path.as_path(), text.as_str())),
        )
    }

    /// The copy of Apple's YAML built into the binary (`schema/apple/`, with its licence and
    /// provenance), so `mxconf verify` checks payloads with no files around.
    pub fn embedded() -> Result<Self, SchemaError> {
        Self::from_texts(
            EMBEDDED
                .iter()
                .map(|(name, text)| (Path::new(*name), *text)),
        )
    }

    /// `files`: `TopLevel.yaml` first, `CommonPayloadKeys.yaml` second, then payload types.
    fn from_texts<'a>(
        mut files: impl Iterator<Item = (&'a Path, &'a str)>,
    ) -> Result<Self, SchemaError> {
        let mut next = || {
            files
                .next()
                .map(|(path, text)| parse_file(path, text))
                .transpose()
        };
        let top_level = next()?.map(|f| f.payloadkeys).unwrap_or_default();
        let common = next()?.map(|f| f.payloadkeys).unwrap_or_default();
        let mut payloads = HashMap::new();
        while let Some(file) = next()? {
            payloads.insert(file.payload.payloadtype.clone(), file);
        }
        Ok(Schema {
            top_level,
            common,
            payloads,
        })
    }

    /// Every violation in `profile`, each `path: problem`; empty when the profile conforms.
    pub fn validate(&self, profile: &Value) -> Vec<String> {
        let mut out = Vec::new();
        let Some(top) = profile.as_dictionary() else {
            out.push("profile: the root is not a dictionary".to_owned());
            return out;
        };
        let os = target_os(top);
        let context = Context {
            os,
            payload_os: None,
        };
        check_keys(
            "profile",
            top,
            &self.top_level.iter().collect::<Vec<_>>(),
            &context,
            &mut out,
        );
        if let Some(content) = top.get("PayloadContent").and_then(Value::as_array) {
            for (index, item) in content.iter().enumerate() {
                self.check_payload(&format!("PayloadContent[{index}]"), item, os, &mut out);
            }
        }
        out
    }

    fn check_payload(
        &self,
        path: &str,
        item: &Value,
        os: Option<&'static str>,
        out: &mut Vec<String>,
    ) {
        let Some(dict) = item.as_dictionary() else {
            out.push(format!("{path}: a payload must be a dictionary"));
            return;
        };
        let Some(kind) = dict.get("PayloadType").and_then(Value::as_string) else {
            out.push(format!("{path}: missing required key PayloadType"));
            return;
        };
        let path = format!("{path} ({kind})");
        let Some(file) = self.payloads.get(kind) else {
            out.push(format!("{path}: unknown payload type"));
            return;
        };
        let mut os = os;
        if let Some(name) = os
            && file
                .payload
                .supported_os
                .get(name)
                .is_some_and(OsSupport::unsupported)
        {
            out.push(format!(
                "{path}: payload type is not supported on {name} (TargetDeviceType)"
            ));
            // Said once for the payload, not again for each of its keys.
            os = None;
        }
        let specs: Vec<&KeySpec> = self.common.iter().chain(&file.payloadkeys).collect();
        let context = Context {
            os,
            payload_os: Some(&file.payload.supported_os),
        };
        check_keys(&path, dict, &specs, &context, out);
    }
}

/// Reads a profile's XML (or binary) plist bytes and validates them against the YAML in
/// `spec_dir` (the `apple-device-management` directory).
pub fn validate_profile(profile: &Value, spec_dir: &Path) -> Result<Vec<String>, SchemaError> {
    Ok(Schema::load(spec_dir)?.validate(profile))
}

fn parse_file(path: &Path, text: &str) -> Result<SchemaFile, SchemaError> {
    let mut file: SchemaFile =
        serde_yaml_ng::from_str(text).map_err(|source| SchemaError::Parse {
            file: path.to_path_buf(),
            source,
        })?;
    for spec in &mut file.payloadkeys {
        compile_patterns(spec, path)?;
    }
    Ok(file)
}

/// Apple's files as shipped in `schema/apple/` (same order contract as `from_texts`).
const EMBEDDED: [(&str, &str); 7] = [
    (
        "TopLevel.yaml",
        include_str!("../../schema/apple/TopLevel.yaml"),
    ),
    (
        "CommonPayloadKeys.yaml",
        include_str!("../../schema/apple/CommonPayloadKeys.yaml"),
    ),
    (
        "com.apple.mail.managed.yaml",
        include_str!("../../schema/apple/com.apple.mail.managed.yaml"),
    ),
    (
        "com.apple.eas.account.yaml",
        include_str!("../../schema/apple/com.apple.eas.account.yaml"),
    ),
    (
        "com.apple.ews.account.yaml",
        include_str!("../../schema/apple/com.apple.ews.account.yaml"),
    ),
    (
        "com.apple.caldav.account.yaml",
        include_str!("../../schema/apple/com.apple.caldav.account.yaml"),
    ),
    (
        "com.apple.carddav.account.yaml",
        include_str!("../../schema/apple/com.apple.carddav.account.yaml"),
    ),
];

fn compile_patterns(spec: &mut KeySpec, file: &Path) -> Result<(), SchemaError> {
    if let Some(format) = &spec.format {
        spec.pattern = Some(
            regex::Regex::new(format).map_err(|source| SchemaError::Pattern {
                file: file.to_path_buf(),
                key: spec.key.clone(),
                source,
            })?,
        );
    }
    for sub in &mut spec.subkeys {
        compile_patterns(sub, file)?;
    }
    Ok(())
}

/// The OS the profile targets, named as in `supportedOS` (TopLevel.yaml `TargetDeviceType`).
fn target_os(top: &Dictionary) -> Option<&'static str> {
    match top
        .get("TargetDeviceType")
        .and_then(Value::as_signed_integer)?
    {
        1 => Some("iOS"),
        2 => Some("watchOS"),
        4 => Some("tvOS"),
        5 => Some("macOS"),
        6 => Some("visionOS"),
        // 0 is "any"; HomePod (3) has no supportedOS column.
        _ => None,
    }
}

struct Context<'a> {
    os: Option<&'static str>,
    /// The payload's own `supportedOS`, which keys inherit and may override.
    payload_os: Option<&'a BTreeMap<String, OsSupport>>,
}

fn check_keys(
    path: &str,
    dict: &Dictionary,
    specs: &[&KeySpec],
    context: &Context<'_>,
    out: &mut Vec<String>,
) {
    let wildcard = specs.iter().find(|spec| spec.key == ANY);
    for (key, value) in dict {
        match specs.iter().find(|spec| spec.key == *key).or(wildcard) {
            Some(spec) => check_value(&format!("{path}: {key}"), value, spec, context, out),
            None => out.push(format!("{path}: unknown key {key}")),
        }
    }
    for spec in specs {
        if spec.key != ANY
            && spec.presence.as_deref() == Some("required")
            && !dict.contains_key(&spec.key)
        {
            out.push(format!("{path}: missing required key {}", spec.key));
        }
    }
}

fn type_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "<string>" => matches!(value, Value::String(_)),
        "<integer>" => matches!(value, Value::Integer(_)),
        "<real>" => matches!(value, Value::Real(_)),
        "<boolean>" => matches!(value, Value::Boolean(_)),
        "<date>" => matches!(value, Value::Date(_)),
        "<data>" => matches!(value, Value::Data(_)),
        "<array>" => matches!(value, Value::Array(_)),
        "<dictionary>" => matches!(value, Value::Dictionary(_)),
        "<any>" => true,
        // A type this code does not know is a schema change to look at, not a pass.
        _ => false,
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "<string>",
        Value::Integer(_) => "<integer>",
        Value::Real(_) => "<real>",
        Value::Boolean(_) => "<boolean>",
        Value::Date(_) => "<date>",
        Value::Data(_) => "<data>",
        Value::Array(_) => "<array>",
        Value::Dictionary(_) => "<dictionary>",
        _ => "an unknown plist type",
    }
}

fn same_value(allowed: &serde_yaml_ng::Value, value: &Value) -> bool {
    match (allowed, value) {
        (serde_yaml_ng::Value::String(a), Value::String(v)) => a == v,
        (serde_yaml_ng::Value::Bool(a), Value::Boolean(v)) => a == v,
        (serde_yaml_ng::Value::Number(a), Value::Integer(v)) => {
            a.as_i64().is_some_and(|a| Some(a) == v.as_signed())
                || a.as_u64().is_some_and(|a| Some(a) == v.as_unsigned())
        }
        (serde_yaml_ng::Value::Number(a), Value::Real(v)) => a.as_f64() == Some(*v),
        _ => false,
    }
}

fn yaml_text(value: &serde_yaml_ng::Value) -> String {
    match value {
        serde_yaml_ng::Value::String(s) => s.clone(),
        serde_yaml_ng::Value::Number(n) => n.to_string(),
        serde_yaml_ng::Value::Bool(b) => b.to_string(),
        _ => "?".to_owned(),
    }
}

fn check_value(
    path: &str,
    value: &Value,
    spec: &KeySpec,
    context: &Context<'_>,
    out: &mut Vec<String>,
) {
    if !type_matches(&spec.kind, value) {
        out.push(format!(
            "{path}: expected {}, found {}",
            spec.kind,
            describe(value)
        ));
        return;
    }
    if let Some(os) = context.os {
        let unsupported = spec
            .supported_os
            .get(os)
            .or_else(|| context.payload_os.and_then(|p| p.get(os)))
            .is_some_and(OsSupport::unsupported);
        if unsupported {
            out.push(format!("{path}: not supported on {os} (TargetDeviceType)"));
        }
    }
    if let Some(list) = &spec.rangelist
        && !list.iter().any(|allowed| same_value(allowed, value))
    {
        let allowed: Vec<String> = list.iter().map(yaml_text).collect();
        out.push(format!(
            "{path}: not one of the allowed values {}",
            allowed.join(", ")
        ));
    }
    if let (Some(pattern), Some(text)) = (&spec.pattern, value.as_string())
        && !pattern.is_match(text)
    {
        out.push(format!(
            "{path}: does not match the format {}",
            pattern.as_str()
        ));
    }
    if let Some(bounds) = &spec.range {
        let number = match value {
            Value::Integer(i) => i.as_signed().map(|i| i as f64),
            Value::Real(r) => Some(*r),
            _ => None,
        };
        if let Some(number) = number
            && (bounds.min.is_some_and(|min| number < min)
                || bounds.max.is_some_and(|max| number > max))
        {
            out.push(format!("{path}: out of range"));
        }
    }
    match value {
        Value::Dictionary(dict) if !spec.subkeys.is_empty() => {
            // A lone `…Item` dictionary subkey is a placeholder for the dictionary's own
            // contents, not a key in it (ConsentText.ConsentTextItem in TopLevel.yaml).
            let subkeys: Vec<&KeySpec> = match spec.subkeys.as_slice() {
                [only]
                    if only.kind == "<dictionary>"
                        && only.key.ends_with("Item")
                        && !dict.contains_key(&only.key) =>
                {
                    only.subkeys.iter().collect()
                }
                all => all.iter().collect(),
            };
            check_keys(path, dict, &subkeys, context, out);
        }
        // An array's single subkey describes every element.
        Value::Array(items) => {
            if let Some(element) = spec.subkeys.first() {
                for (index, item) in items.iter().enumerate() {
                    check_value(&format!("{path}[{index}]"), item, element, context, out);
                }
            }
        }
        _ => {}
    }
}
