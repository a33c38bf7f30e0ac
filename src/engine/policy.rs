//! Endpoint policies: the generated presets, parsing of custom documents, and semantic
//! comparison (parsed JSON, not strings, so AWS's reformatting is never mistaken for drift).

use serde_json::{Value, json};

use crate::api::{PolicyPreset, Service};

/// AWS's default gateway-endpoint policy: full access.
pub fn full_access() -> Value {
    json!({
        "Version": "2008-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]
    })
}

/// The AWS partition of a region, for ARNs.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("eu-isoe-") {
        "aws-iso-e"
    } else if region.starts_with("us-isof-") {
        "aws-iso-f"
    } else {
        "aws"
    }
}

/// Read-only DynamoDB actions (data reads, describes, lists).
const DYNAMODB_READ_ACTIONS: &[&str] = &[
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:GetItem",
    "dynamodb:ListTables",
    "dynamodb:ListTagsOfResource",
    "dynamodb:PartiQLSelect",
    "dynamodb:Query",
    "dynamodb:Scan",
];

/// Every DynamoDB action whose only required resource is a table (indexes optional), per the IAM
/// service authorization reference: what "full access" means when the policy names tables.
/// Actions that also need another resource (backups by ARN, global tables, streams, resource
/// policies) or none (ListTables, DescribeLimits) cannot be limited to tables and are left out;
/// ListTables is granted on its own.
const DYNAMODB_TABLE_ACTIONS: &[&str] = &[
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:CreateBackup",
    "dynamodb:CreateTable",
    "dynamodb:CreateTableReplica",
    "dynamodb:DeleteItem",
    "dynamodb:DeleteTable",
    "dynamodb:DeleteTableReplica",
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:DescribeContributorInsights",
    "dynamodb:DescribeKinesisStreamingDestination",
    "dynamodb:DescribeTable",
    "dynamodb:DescribeTableReplicaAutoScaling",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:DisableKinesisStreamingDestination",
    "dynamodb:EnableKinesisStreamingDestination",
    "dynamodb:ExportTableToPointInTime",
    "dynamodb:GetItem",
    "dynamodb:ImportTable",
    "dynamodb:ListTagsOfResource",
    "dynamodb:PartiQLDelete",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLSelect",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:RestoreTableFromAwsBackup",
    "dynamodb:RestoreTableToPointInTime",
    "dynamodb:Scan",
    "dynamodb:StartAwsBackupJob",
    "dynamodb:TagResource",
    "dynamodb:UntagResource",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:UpdateContributorInsights",
    "dynamodb:UpdateItem",
    "dynamodb:UpdateKinesisStreamingDestination",
    "dynamodb:UpdateTable",
    "dynamodb:UpdateTableReplicaAutoScaling",
    "dynamodb:UpdateTimeToLive",
];

/// Read-only S3 actions.
const S3_READ_ACTIONS: &[&str] = &["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"];

/// The document a preset (optionally restricted to tables) stands for. `None` means AWS's
/// default policy, which is set by `ResetPolicy` rather than by sending a document.
/// Table ARNs carry `account`: a table of the same name in another account is not reachable
/// through the endpoint (AWS's own example policy pins the account the same way).
pub fn generate(
    preset: PolicyPreset,
    tables: &[String],
    service: Service,
    region: &str,
    account: &str,
) -> Option<Value> {
    if preset == PolicyPreset::FullAccess && tables.is_empty() {
        return None;
    }
    let generated = |actions: Value, resources: Value| {
        json!({
            "Sid": "VpcgateGenerated",
            "Effect": "Allow",
            "Principal": "*",
            "Action": actions,
            "Resource": resources
        })
    };
    // Tables apply to DynamoDB only (`desired` refuses them for S3).
    let statements = if tables.is_empty() || service == Service::S3 {
        let actions: Value = match (preset, service) {
            (PolicyPreset::FullAccess, Service::Dynamodb) => json!("dynamodb:*"),
            (PolicyPreset::FullAccess, Service::S3) => json!("s3:*"),
            (PolicyPreset::ReadOnly, Service::Dynamodb) => json!(DYNAMODB_READ_ACTIONS),
            (PolicyPreset::ReadOnly, Service::S3) => json!(S3_READ_ACTIONS),
        };
        vec![generated(actions, json!("*"))]
    } else {
        // Only actions that act on a table (or its indexes) can be limited to table ARNs; the
        // account-level ListTables (which lists names, no data) is allowed on its own.
        let actions: Vec<&str> = match preset {
            PolicyPreset::FullAccess => DYNAMODB_TABLE_ACTIONS.to_vec(),
            PolicyPreset::ReadOnly => DYNAMODB_READ_ACTIONS
                .iter()
                .copied()
                .filter(|a| *a != "dynamodb:ListTables")
                .collect(),
        };
        let p = partition(region);
        let mut arns = Vec::with_capacity(tables.len() * 2);
        for t in tables {
            arns.push(format!("arn:{p}:dynamodb:{region}:{account}:table/{t}"));
            arns.push(format!(
                "arn:{p}:dynamodb:{region}:{account}:table/{t}/index/*"
            ));
        }
        vec![
            generated(json!(actions), json!(arns)),
            json!({
                "Sid": "VpcgateListTables",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "dynamodb:ListTables",
                "Resource": "*"
            }),
        ]
    };
    Some(json!({"Version": "2012-10-17", "Statement": statements}))
}

/// The `Sid` of the one statement vpcgate owns in an endpoint policy: the probe's canary.
pub const CANARY_SID: &str = "VpcgateCanary";

/// The canary table of an object: unique to it (its uid), and never created.
pub fn canary_table(uid: &str) -> String {
    format!("vpcgate-canary-{uid}")
}

/// A full-access document written out (what AWS's default means), for when a statement must be
/// added to it.
pub fn explicit_full_access(service: Service) -> Value {
    let action = match service {
        Service::Dynamodb => "dynamodb:*",
        Service::S3 => "s3:*",
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "VpcgateGenerated",
            "Effect": "Allow",
            "Principal": "*",
            "Action": action,
            "Resource": "*"
        }]
    })
}

/// `doc` with the canary statement: deny `DescribeTable` on the object's canary table in this
/// account. Only an endpoint policy carrying it denies that table (the operator's role may
/// describe any table), so a denial proves the request went through this endpoint. A statement
/// with the canary's Sid already in `doc` is replaced.
pub fn with_canary(mut doc: Value, region: &str, account: &str, table: &str) -> Value {
    let p = partition(region);
    let canary = json!({
        "Sid": CANARY_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "dynamodb:DescribeTable",
        "Resource": format!("arn:{p}:dynamodb:{region}:{account}:table/{table}")
    });
    let Some(obj) = doc.as_object_mut() else {
        return doc;
    };
    let mut statements = match obj.remove("Statement") {
        Some(Value::Array(list)) => list,
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    statements.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(CANARY_SID));
    statements.push(canary);
    obj.insert("Statement".into(), Value::Array(statements));
    doc
}

/// Parses a custom document: JSON object with a non-empty `Statement`. The error names what is
/// wrong, for an `InvalidSpec` condition on `spec.policy.document`.
pub fn parse_document(text: &str) -> Result<Value, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON ({e})"))?;
    let obj = value
        .as_object()
        .ok_or("must be a JSON object with a Statement")?;
    match obj.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => {}
        Some(Value::Object(_)) => {}
        Some(_) => return Err("Statement must be a non-empty list or an object".into()),
        None => return Err("has no Statement".into()),
    }
    Ok(value)
}

/// A canonical form in which IAM-equivalent documents compare equal: `Statement` always a
/// list, `Principal: "*"` the same as `{"AWS": "*"}`, every action/resource/principal/condition
/// value a sorted list (a scalar is a one-element list), and the statements themselves in a
/// stable order.
pub fn normalize(doc: &Value) -> Value {
    let mut doc = doc.clone();
    if let Some(stmt) = doc.as_object_mut().and_then(|o| o.get_mut("Statement")) {
        let list = match stmt.take() {
            Value::Array(a) => a,
            other => vec![other],
        };
        let mut list: Vec<Value> = list.into_iter().map(normalize_statement).collect();
        list.sort_by_key(|s| s.to_string());
        *stmt = Value::Array(list);
    }
    doc
}

fn normalize_statement(mut stmt: Value) -> Value {
    if let Some(obj) = stmt.as_object_mut() {
        for key in ["Action", "NotAction", "Resource", "NotResource"] {
            if let Some(v) = obj.get_mut(key) {
                *v = sorted_list(v.take());
            }
        }
        for key in ["Principal", "NotPrincipal"] {
            if let Some(v) = obj.get_mut(key) {
                *v = normalize_principal(v.take());
            }
        }
        if let Some(Value::Object(ops)) = obj.get_mut("Condition") {
            for keys in ops.values_mut() {
                if let Value::Object(keys) = keys {
                    for v in keys.values_mut() {
                        *v = sorted_list(v.take());
                    }
                }
            }
        }
    }
    stmt
}

/// `"*"` means every principal, the same as `{"AWS": "*"}` (IAM's documented equivalence).
fn normalize_principal(v: Value) -> Value {
    match v {
        Value::String(s) if s == "*" => json!({"AWS": ["*"]}),
        Value::Object(mut map) => {
            for v in map.values_mut() {
                *v = sorted_list(v.take());
            }
            Value::Object(map)
        }
        other => other,
    }
}

fn sorted_list(v: Value) -> Value {
    let mut list = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    list.sort_by_key(|x| x.to_string());
    list.dedup();
    Value::Array(list)
}

/// A stable fingerprint of "we declared `desired`, AWS reports `reported`", kept in status so a
/// policy that AWS does not take is not sent again and again. FNV-1a (64 bit), written out here
/// because it must not change between releases and needs no crate.
pub fn echo_fingerprint(desired: Option<&Value>, reported: Option<&str>) -> String {
    let text = format!(
        "{}\u{0}{}",
        desired
            .map(|d| normalize(d).to_string())
            .unwrap_or_default(),
        reported.unwrap_or_default()
    );
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The length AWS counts against its 20,480-character limit: the document as sent.
pub fn length(doc: &Value) -> usize {
    doc.to_string().chars().count()
}

/// Whether the policy AWS reports (`None`: AWS reports none, i.e. the default) means the same
/// as `desired` (`None`: the default full-access policy).
pub fn equivalent(current: Option<&str>, desired: Option<&Value>) -> bool {
    let full = full_access();
    let desired = desired.unwrap_or(&full);
    let current = match current {
        None => full_access(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(v) => v,
            Err(_) => return false,
        },
    };
    normalize(&current) == normalize(desired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions() {
        for (region, p) in [
            ("eu-west-1", "aws"),
            ("cn-north-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("eu-isoe-west-1", "aws-iso-e"),
            ("us-isof-south-1", "aws-iso-f"),
        ] {
            assert_eq!(partition(region), p, "{region}");
        }
    }

    #[test]
    fn full_access_without_tables_is_the_default() {
        assert_eq!(
            generate(
                PolicyPreset::FullAccess,
                &[],
                Service::Dynamodb,
                "eu-west-1",
                "111122223333"
            ),
            None
        );
    }

    #[test]
    fn read_only_lists_read_actions_only() {
        let doc = generate(
            PolicyPreset::ReadOnly,
            &[],
            Service::Dynamodb,
            "eu-west-1",
            "111122223333",
        )
        .unwrap();
        let actions = doc["Statement"][0]["Action"].as_array().unwrap();
        assert!(actions.iter().any(|a| a == "dynamodb:GetItem"));
        assert!(
            !actions
                .iter()
                .any(|a| a == "dynamodb:PutItem" || a == "dynamodb:*")
        );
        assert_eq!(doc["Statement"][0]["Resource"], "*");
        let s3 = generate(
            PolicyPreset::ReadOnly,
            &[],
            Service::S3,
            "eu-west-1",
            "111122223333",
        )
        .unwrap();
        assert!(
            s3["Statement"][0]["Action"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "s3:GetObject")
        );
        let s3_full = generate(
            PolicyPreset::FullAccess,
            &["t1".into()],
            Service::S3,
            "eu-west-1",
            "111122223333",
        )
        .unwrap();
        assert_eq!(s3_full["Statement"][0]["Action"], "s3:*");
    }

    #[test]
    fn tables_become_arns_in_the_regions_partition() {
        let doc = generate(
            PolicyPreset::FullAccess,
            &["Music".into()],
            Service::Dynamodb,
            "cn-north-1",
            "111122223333",
        )
        .unwrap();
        // Table-level actions on the tables; ListTables (account-level) on its own.
        let actions = doc["Statement"][0]["Action"].as_array().unwrap();
        assert!(actions.contains(&json!("dynamodb:PutItem")));
        assert!(!actions.contains(&json!("dynamodb:ListTables")));
        assert!(!actions.iter().any(|a| a.as_str().unwrap().contains('*')));
        assert_eq!(
            doc["Statement"][0]["Resource"],
            json!([
                "arn:aws-cn:dynamodb:cn-north-1:111122223333:table/Music",
                "arn:aws-cn:dynamodb:cn-north-1:111122223333:table/Music/index/*"
            ])
        );
        assert_eq!(doc["Statement"][1]["Action"], "dynamodb:ListTables");
        assert_eq!(doc["Statement"][1]["Resource"], "*");
        let read = generate(
            PolicyPreset::ReadOnly,
            &["Music".into()],
            Service::Dynamodb,
            "eu-west-1",
            "111122223333",
        )
        .unwrap();
        let actions = read["Statement"][0]["Action"].as_array().unwrap();
        assert!(actions.contains(&json!("dynamodb:GetItem")));
        assert!(!actions.contains(&json!("dynamodb:PutItem")));
        assert!(!actions.contains(&json!("dynamodb:ListTables")));
    }

    #[test]
    fn parse_document_names_the_problem() {
        assert!(parse_document("{").unwrap_err().contains("not valid JSON"));
        assert!(parse_document("[]").unwrap_err().contains("JSON object"));
        assert!(
            parse_document(r#"{"Version":"2012-10-17"}"#)
                .unwrap_err()
                .contains("no Statement")
        );
        assert!(
            parse_document(r#"{"Statement":[]}"#)
                .unwrap_err()
                .contains("non-empty")
        );
        assert!(parse_document(r#"{"Statement":"x"}"#).is_err());
        assert!(
            parse_document(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#)
                .is_ok()
        );
        assert!(parse_document(r#"{"Statement":[{"Effect":"Allow"}]}"#).is_ok());
    }

    #[test]
    fn equivalence_is_semantic() {
        // Reformatted, reordered, single values vs lists: the same policy.
        let a = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["dynamodb:GetItem","dynamodb:Query"],"Resource":"*"}}"#;
        let b = json!({"Statement":[{"Resource":["*"],"Action":["dynamodb:Query","dynamodb:GetItem"],"Principal":{"AWS":["*"]},"Effect":"Allow"}],"Version":"2012-10-17"});
        assert!(equivalent(Some(a), Some(&b)));
        // A different action is drift.
        let c = json!({"Statement":[{"Resource":"*","Action":"dynamodb:Query","Principal":{"AWS":"*"},"Effect":"Allow"}],"Version":"2012-10-17"});
        assert!(!equivalent(Some(a), Some(&c)));
        // No policy reported equals the default; the default text equals the default.
        assert!(equivalent(None, None));
        assert!(equivalent(Some(&full_access().to_string()), None));
        assert!(!equivalent(Some(a), None));
        // Garbage from AWS never equals anything.
        assert!(!equivalent(Some("not json"), None));
    }

    #[test]
    fn iam_equivalent_forms_are_equal() {
        // Principal "*" and {"AWS": "*"}; scalar and list condition values; statement order.
        let a = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"dynamodb:*","Resource":"*",
             "Condition":{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}},
            {"Effect":"Deny","Principal":"*","Action":"dynamodb:DeleteTable","Resource":"*"}]}"#;
        let b = json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Deny","Principal":{"AWS":["*"]},"Action":["dynamodb:DeleteTable"],"Resource":["*"]},
            {"Effect":"Allow","Principal":{"AWS":"*"},"Action":["dynamodb:*"],"Resource":"*",
             "Condition":{"StringEquals":{"aws:PrincipalAccount":["111122223333"]}}}]});
        assert!(equivalent(Some(a), Some(&b)));
        // A different condition value is drift.
        let c = json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Deny","Principal":"*","Action":"dynamodb:DeleteTable","Resource":"*"},
            {"Effect":"Allow","Principal":"*","Action":"dynamodb:*","Resource":"*",
             "Condition":{"StringEquals":{"aws:PrincipalAccount":"444455556666"}}}]});
        assert!(!equivalent(Some(a), Some(&c)));
    }

    #[test]
    fn echo_fingerprint_is_stable_and_tells_inputs_apart() {
        let d = full_access();
        let f = echo_fingerprint(Some(&d), Some("x"));
        assert_eq!(f, echo_fingerprint(Some(&d), Some("x")));
        assert_eq!(f.len(), 16);
        assert_ne!(f, echo_fingerprint(Some(&d), Some("y")));
        assert_ne!(f, echo_fingerprint(None, Some("x")));
        // Pinned: the fingerprint is kept in status across releases.
        assert_eq!(echo_fingerprint(None, None), "af63bd4c8601b7df");
    }
}
