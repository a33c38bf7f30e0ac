//! The resource reference (`docs/reference.md`), generated from the CRD's schema so the docs
//! cannot drift from the API (a test compares them; `vpcgate reference` regenerates).

use serde_json::Value;

fn one_line(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn type_of(schema: &Value) -> String {
    match schema["type"].as_str() {
        Some("array") => format!("[]{}", type_of(&schema["items"])),
        Some("object") if schema.get("additionalProperties").is_some() => {
            format!("map[string]{}", type_of(&schema["additionalProperties"]))
        }
        Some(t) => t.to_owned(),
        None => "object".to_owned(),
    }
}

fn rules(schema: &Value) -> String {
    let mut out = Vec::new();
    if let Some(d) = schema.get("default") {
        out.push(format!("default `{d}`"));
    }
    if let Some(e) = schema["enum"].as_array() {
        let values: Vec<String> = e
            .iter()
            .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
            .collect();
        out.push(format!("one of {}", values.join(", ")));
    }
    let inner = if schema["type"] == "array" {
        &schema["items"]
    } else {
        schema
    };
    if let Some(p) = inner["pattern"].as_str() {
        out.push(format!("pattern `{p}`"));
    }
    for (key, label) in [
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("maxItems", "max items"),
        ("maxProperties", "max entries"),
    ] {
        if let Some(n) = schema.get(key).or_else(|| inner.get(key)) {
            out.push(format!("{label} {n}"));
        }
    }
    if let Some(v) = schema["x-kubernetes-validations"].as_array() {
        for r in v {
            out.push(format!(
                "rule: {}",
                r["message"].as_str().unwrap_or_default()
            ));
        }
    }
    one_line(&out.join("; "))
}

fn walk(path: &str, schema: &Value, required: &[&str], rows: &mut Vec<String>) {
    let Some(props) = schema["properties"].as_object() else {
        return;
    };
    for (name, sub) in props {
        let p = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        let req = if required.contains(&name.as_str()) {
            "yes"
        } else {
            ""
        };
        rows.push(format!(
            "| `{p}` | {} | {req} | {} | {} |",
            type_of(sub),
            one_line(sub["description"].as_str().unwrap_or_default()),
            rules(sub)
        ));
        let req_inner: Vec<&str> = sub["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if sub["type"] == "array" {
            let items = &sub["items"];
            let req_items: Vec<&str> = items["required"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            walk(&format!("{p}[]"), items, &req_items, rows);
        } else {
            walk(&p, sub, &req_inner, rows);
        }
    }
}

/// The Markdown reference of `GatewayEndpoint`.
pub fn markdown() -> String {
    let crd = serde_json::to_value(crate::api::crd()).expect("CRD serializes");
    let version = &crd["spec"]["versions"][0];
    let schema = &version["schema"]["openAPIV3Schema"];
    let mut out = String::new();
    out.push_str("# GatewayEndpoint reference\n\n");
    out.push_str(
        "<!-- Generated from the CRD by `vpcgate reference`; a test fails when it drifts. -->\n\n",
    );
    out.push_str(&format!(
        "`{}/{}`, kind `GatewayEndpoint`, cluster-scoped, short name `gwe`, category `vpcgate`.\n\n{}\n\n",
        crd["spec"]["group"].as_str().unwrap_or_default(),
        version["name"].as_str().unwrap_or_default(),
        one_line(schema["description"].as_str().unwrap_or_default())
    ));
    for section in ["spec", "status"] {
        let sub = &schema["properties"][section];
        out.push_str(&format!("## {section}\n\n"));
        if let Some(v) = sub["x-kubernetes-validations"].as_array() {
            for r in v {
                out.push_str(&format!(
                    "- rule: {}\n",
                    r["message"].as_str().unwrap_or_default()
                ));
            }
            out.push('\n');
        }
        out.push_str(
            "| field | type | required | description | validation |\n|---|---|---|---|---|\n",
        );
        let required: Vec<&str> = sub["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut rows = Vec::new();
        walk(section, sub, &required, &mut rows);
        for r in rows {
            out.push_str(&r);
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str("## Printer columns\n\n| column | JSONPath |\n|---|---|\n");
    for c in version["additionalPrinterColumns"]
        .as_array()
        .into_iter()
        .flatten()
    {
        out.push_str(&format!(
            "| {} | `{}` |\n",
            c["name"].as_str().unwrap_or_default(),
            c["jsonPath"]
                .as_str()
                .unwrap_or_default()
                .replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn docs_reference_matches_the_crd() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reference.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == super::markdown(),
            "docs/reference.md is stale: run `cargo run -- reference > docs/reference.md`"
        );
        assert!(
            committed.contains("`spec.routeTables.subnetIds`")
                && committed.contains("`status.conditions`")
        );
    }
}
