//! Least privilege on NATS: one identity per service, publisher, operator and partner of a
//! namespace, each with exactly the subjects it needs (`buendel creds generate`).
//!
//! Identities authenticate with nkeys (the server keeps only their public keys; each process reads
//! its seed from the file `NATS_NKEY` names). The server's configuration is an `authorization`
//! block of users with permissions, which `nats-server` includes from the generated file:
//!
//! - a **service** publishes to its own streams' subjects only, reads the streams it consumes (direct
//!   gets, its consumers), serves its own command subjects and checks that the streams exist;
//! - a **publisher** (an application portal) publishes to its own intake subject and sends the
//!   applicant's commands (submit, revise, withdraw, payment claims), each as itself;
//! - an **operator** (`office.<name>`, `bank.<name>`, `verifier.<name>`, `approver.<name>`) sends
//!   the commands of its role, as itself;
//! - a **partner** (`partner.<alliance>.<partner>`) votes and recuses, as itself;
//! - the **owner** has every right and is used once, by `buendel migrate`.
//!
//! "As itself" is `<ns>.cmd.<service>.<command>.as.<identity>`: no identity may publish under
//! another's name, and the services (with `BUENDEL_ACTORS=authenticated`) record the subject's
//! identity as the actor. Every identity subscribes to its own inbox only
//! (`_INBOX_<public key>.>`), so no one reads another's replies.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use buendel_contract::namespace::StreamKind;
use buendel_contract::Namespace;
use buendel_runtime::connect;

/// The services that run with their own identity.
pub const SERVICES: [&str; 7] = [
    "submission",
    "approval",
    "ledger",
    "projector",
    "api",
    "audit",
    "log",
];

/// The operator roles and the commands each may send (`service.command`).
pub const ROLES: [(&str, &[&str]); 4] = [
    (
        "office",
        &[
            "approval.issue_statement",
            "approval.register_alliance",
            "approval.add_partner",
            "approval.remove_partner",
            "ledger.allocate_budget",
            "ledger.adjust_budget",
            "ledger.release_reservation",
            "ledger.expire_unbound",
            "ledger.close_project",
            "ledger.assess_recovery",
            "ledger.check_final_report",
            "ledger.revoke_grant",
            "ledger.charge_interest",
            "ledger.lock_period",
            "ledger.note_correction",
        ],
    ),
    (
        "bank",
        &[
            "approval.record_grant",
            "approval.record_refusal",
            "ledger.record_disbursement",
            "ledger.record_repayment",
            "ledger.record_interest_payment",
        ],
    ),
    ("verifier", &["ledger.verify_claim", "ledger.return_claim"]),
    ("approver", &["ledger.approve_claim"]),
];

/// The commands a publisher (an application portal) sends for its applicants.
pub const PUBLISHER_COMMANDS: [&str; 5] = [
    "submission.submit",
    "submission.revise",
    "submission.withdraw",
    "ledger.submit_claim",
    "ledger.resubmit_claim",
];

/// The commands a partner sends.
pub const PARTNER_COMMANDS: [&str; 2] = ["approval.vote", "approval.declare_conflict"];

/// Who connects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Identity {
    /// Every right, for `buendel migrate`.
    Owner,
    /// One of [`SERVICES`].
    Service(&'static str),
    /// An intake publisher, e.g. `portal`.
    Publisher(String),
    /// An operator of a role of [`ROLES`], e.g. `verifier` `anna`.
    Operator(&'static str, String),
    /// A partner of an alliance.
    Partner {
        /// The alliance, e.g. `non`.
        alliance: String,
        /// The partner, e.g. `dgb`.
        partner: String,
    },
}

impl fmt::Display for Identity {
    /// The identity as commands name it after `.as.` and as its seed file is named.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Owner => f.write_str("owner"),
            Identity::Service(name) => write!(f, "service.{name}"),
            Identity::Publisher(name) => write!(f, "publisher.{name}"),
            Identity::Operator(role, name) => write!(f, "{role}.{name}"),
            Identity::Partner { alliance, partner } => write!(f, "partner.{alliance}.{partner}"),
        }
    }
}

/// A subject token of an identity: `a-z`, `0-9`, `-` and `_`, 1 to 64 characters.
fn token(value: &str, what: &str) -> anyhow::Result<String> {
    let valid = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    anyhow::ensure!(
        valid,
        "{what} {value:?} must be 1 to 64 characters a-z, 0-9, - and _"
    );
    Ok(value.to_owned())
}

impl Identity {
    /// A publisher named `name`.
    pub fn publisher(name: &str) -> anyhow::Result<Self> {
        Ok(Identity::Publisher(token(name, "the publisher")?))
    }

    /// An operator written `role.name`, e.g. `verifier.anna`.
    pub fn operator(written: &str) -> anyhow::Result<Self> {
        let (role, name) = written
            .split_once('.')
            .with_context(|| format!("operator {written:?} is not ROLE.NAME, e.g. office.anna"))?;
        let role = ROLES
            .iter()
            .map(|(r, _)| *r)
            .find(|r| *r == role)
            .with_context(|| {
                let roles: Vec<&str> = ROLES.iter().map(|(r, _)| *r).collect();
                format!("role {role:?} is not one of {}", roles.join(", "))
            })?;
        Ok(Identity::Operator(
            role,
            token(name, "the operator's name")?,
        ))
    }

    /// A partner written `alliance.partner`, e.g. `non.dgb`.
    pub fn partner(written: &str) -> anyhow::Result<Self> {
        let (alliance, partner) = written.split_once('.').with_context(|| {
            format!("partner {written:?} is not ALLIANCE.PARTNER, e.g. non.dgb")
        })?;
        Ok(Identity::Partner {
            alliance: token(alliance, "the alliance")?,
            partner: token(partner, "the partner")?,
        })
    }

    /// The commands (`service.command`) it sends as itself.
    fn commands(&self) -> Vec<&'static str> {
        match self {
            Identity::Owner | Identity::Service(_) => vec![],
            Identity::Publisher(_) => PUBLISHER_COMMANDS.to_vec(),
            Identity::Operator(role, _) => ROLES
                .iter()
                .find(|(r, _)| r == role)
                .map(|(_, commands)| commands.to_vec())
                .unwrap_or_default(),
            Identity::Partner { .. } => PARTNER_COMMANDS.to_vec(),
        }
    }
}

/// What one identity may publish and subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Permissions {
    /// Subjects it may publish to.
    pub publish: Vec<String>,
    /// Subjects it may subscribe to.
    pub subscribe: Vec<String>,
    /// Whether it may answer requests (once, to the requester's reply subject).
    pub allow_responses: bool,
}

/// The streams a service reads and the ones it writes.
fn streams_of(service: &str) -> (Vec<StreamKind>, Vec<StreamKind>) {
    use StreamKind::{Deadletter, Decisions, Intake, Ledger, Proposals, Receipts, Reviews};
    match service {
        "submission" => (
            vec![Intake, Proposals, Reviews, Receipts, Decisions],
            vec![Proposals, Receipts, Deadletter, Decisions],
        ),
        "approval" => (
            vec![Proposals, Reviews, Decisions],
            vec![Reviews, Deadletter, Decisions],
        ),
        "ledger" => (
            vec![Reviews, Ledger, Proposals, Decisions],
            vec![Ledger, Deadletter, Decisions],
        ),
        "projector" => (
            vec![Proposals, Reviews, Ledger, Deadletter, Decisions],
            vec![],
        ),
        "audit" | "log" => (vec![Ledger, Reviews, Decisions], vec![]),
        _ => (vec![], vec![]),
    }
}

/// The JetStream API calls that read stream `name`: direct and leader gets, and consumers on it
/// (ordered ones for reads, the service's durable ones), with their acks.
fn reading(name: &str) -> Vec<String> {
    [
        format!("$JS.API.DIRECT.GET.{name}"),
        format!("$JS.API.DIRECT.GET.{name}.>"),
        format!("$JS.API.STREAM.MSG.GET.{name}"),
        format!("$JS.API.CONSUMER.CREATE.{name}"),
        format!("$JS.API.CONSUMER.CREATE.{name}.>"),
        format!("$JS.API.CONSUMER.DURABLE.CREATE.{name}.>"),
        format!("$JS.API.CONSUMER.INFO.{name}.>"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{name}.>"),
        format!("$JS.API.CONSUMER.DELETE.{name}.>"),
        format!("$JS.ACK.{name}.>"),
    ]
    .into()
}

/// The permissions of `identity` in namespace `ns`, whose nkey is `public_key` (its inbox).
pub fn permissions(ns: &Namespace, identity: &Identity, public_key: &str) -> Permissions {
    let inbox = format!("{}.>", connect::inbox_prefix(public_key));
    let mut p = Permissions {
        subscribe: vec![inbox],
        ..Permissions::default()
    };
    match identity {
        Identity::Owner => {
            p.publish = vec![">".into()];
            p.subscribe = vec![">".into()];
            p.allow_responses = true;
        }
        Identity::Service(service) => {
            // Every service checks at start that the namespace's streams exist and are safe.
            p.publish.push("$JS.API.INFO".into());
            for kind in StreamKind::ALL {
                p.publish
                    .push(format!("$JS.API.STREAM.INFO.{}", ns.stream(kind)));
            }
            let (reads, writes) = streams_of(service);
            for kind in reads {
                p.publish.extend(reading(&ns.stream(kind)));
            }
            for kind in writes {
                p.publish.push(ns.stream_subjects(kind));
            }
            if matches!(*service, "submission" | "approval" | "ledger") {
                let name = ns.service_name(service);
                p.subscribe
                    .push(format!("{}.>", ns.command_prefix(service)));
                p.subscribe.extend([
                    "$SRV.*".to_owned(),
                    format!("$SRV.*.{name}"),
                    format!("$SRV.*.{name}.>"),
                ]);
                p.publish.push(format!("$SRV.PING.{name}"));
                p.allow_responses = true;
            }
            if *service == "log" {
                p.subscribe
                    .push(buendel_transparency::service::checkpoint_subject(
                        ns.as_str(),
                    ));
                p.allow_responses = true;
            }
        }
        Identity::Publisher(name) => {
            p.publish.push(ns.subject(StreamKind::Intake, name));
        }
        Identity::Operator(..) | Identity::Partner { .. } => {}
    }
    for command in identity.commands() {
        if let Some((service, name)) = command.split_once('.') {
            p.publish.push(format!(
                "{}.{name}.as.{identity}",
                ns.command_prefix(service)
            ));
        }
    }
    p
}

/// A quoted string of the server's configuration language.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn list(values: &[String]) -> String {
    let items: Vec<String> = values.iter().map(|v| quoted(v)).collect();
    format!("[{}]", items.join(", "))
}

/// The server's `authorization` block for these identities and their public keys: nothing else
/// may connect.
pub fn server_config(ns: &Namespace, users: &[(Identity, String)]) -> String {
    let mut out = format!(
        "# Bündel namespace {ns}: one nkey user per identity (`buendel creds generate`).\n\
         # Include it from nats-server.conf: `include ./auth.conf`.\n\
         authorization {{\n  users = [\n"
    );
    for (identity, public_key) in users {
        let p = permissions(ns, identity, public_key);
        out.push_str(&format!(
            "    # {identity}\n    {{ nkey: {}, permissions: {{ publish: {{ allow: {} }}, subscribe: {{ allow: {} }}{} }} }}\n",
            quoted(public_key),
            list(&p.publish),
            list(&p.subscribe),
            if p.allow_responses { ", allow_responses: true" } else { "" },
        ));
    }
    out.push_str("  ]\n}\n");
    out
}

/// What `buendel creds generate` makes.
#[derive(Debug)]
pub struct Generated {
    /// The server's authorization block.
    pub config: PathBuf,
    /// Every identity with its seed file; `true` where the seed was made now (else kept).
    pub seeds: Vec<(Identity, PathBuf, bool)>,
}

/// Writes a seed file per identity into `dir` (mode 0600; an existing one is kept, so identities can
/// be added later) and `auth.conf` with every identity's permissions. Seeds are never printed.
pub fn generate(ns: &Namespace, dir: &Path, extra: &[Identity]) -> anyhow::Result<Generated> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut identities = vec![Identity::Owner];
    identities.extend(SERVICES.iter().map(|s| Identity::Service(s)));
    for identity in extra {
        if !identities.contains(identity) {
            identities.push(identity.clone());
        }
    }
    let mut users = Vec::new();
    let mut seeds = Vec::new();
    for identity in identities {
        let path = dir.join(format!("{identity}.nk"));
        let made = !path.exists();
        if made {
            let pair = nkeys::KeyPair::new_user();
            let seed = pair
                .seed()
                .map_err(|e| anyhow::anyhow!("making the nkey of {identity}: {e}"))?;
            write_private(&path, &format!("{seed}\n"))?;
        }
        let seed = connect::read_seed(&path)?;
        let public = nkeys::KeyPair::from_seed(&seed)
            .map_err(|_| anyhow::anyhow!("{} holds an invalid nkey seed", path.display()))?
            .public_key();
        users.push((identity.clone(), public));
        seeds.push((identity, path, made));
    }
    let config = dir.join("auth.conf");
    std::fs::write(&config, server_config(ns, &users))
        .with_context(|| format!("writing {}", config.display()))?;
    Ok(Generated { config, seeds })
}

/// Writes a file only its owner may read.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Namespace {
        Namespace::new("t1").expect("namespace")
    }

    fn allowed(patterns: &[String], subject: &str) -> bool {
        patterns.iter().any(|p| matches(p, subject))
    }

    /// NATS subject matching: `*` one token, `>` the rest.
    fn matches(pattern: &str, subject: &str) -> bool {
        let mut p = pattern.split('.');
        let mut s = subject.split('.');
        loop {
            match (p.next(), s.next()) {
                (Some(">"), Some(_)) => return true,
                (Some("*"), Some(_)) => {}
                (Some(a), Some(b)) if a == b => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    #[test]
    fn the_api_publishes_to_no_stream_and_calls_no_command() {
        let p = permissions(&ns(), &Identity::Service("api"), "UAPI");
        for kind in StreamKind::ALL {
            assert!(!allowed(&p.publish, &ns().subject(kind, "x")), "{kind:?}");
        }
        assert!(!allowed(&p.publish, "t1.cmd.ledger.allocate_budget"));
        assert!(!allowed(
            &p.publish,
            "t1.cmd.ledger.allocate_budget.as.office.anna"
        ));
        assert!(allowed(&p.publish, "$JS.API.STREAM.INFO.T1_LEDGER"));
        assert!(!p.allow_responses);
    }

    #[test]
    fn the_ledger_writes_its_stream_and_not_the_reviews() {
        let p = permissions(&ns(), &Identity::Service("ledger"), "ULEDGER");
        assert!(allowed(&p.publish, "t1.ledger.fund-non"));
        assert!(!allowed(&p.publish, "t1.review.x"));
        assert!(!allowed(&p.publish, "t1.proposal.x"));
        assert!(allowed(
            &p.subscribe,
            "t1.cmd.ledger.approve_claim.as.approver.ben"
        ));
        assert!(!allowed(&p.subscribe, "t1.cmd.approval.vote"));
        assert!(allowed(&p.subscribe, "_INBOX_ULEDGER.abc"));
        assert!(!allowed(&p.subscribe, "_INBOX_UOTHER.abc"));
    }

    #[test]
    fn a_partner_votes_only_as_itself() {
        let a = Identity::partner("non.dgb").expect("partner");
        let p = permissions(&ns(), &a, "UA");
        assert!(allowed(
            &p.publish,
            "t1.cmd.approval.vote.as.partner.non.dgb"
        ));
        assert!(!allowed(
            &p.publish,
            "t1.cmd.approval.vote.as.partner.non.hwk"
        ));
        assert!(!allowed(&p.publish, "t1.cmd.approval.vote"));
        assert!(!allowed(
            &p.publish,
            "t1.cmd.approval.issue_statement.as.partner.non.dgb"
        ));
        assert!(!allowed(&p.publish, "t1.review.x"));
    }

    #[test]
    fn a_publisher_reaches_only_the_intake_and_its_applicants_commands() {
        let p = permissions(
            &ns(),
            &Identity::publisher("portal").expect("publisher"),
            "UP",
        );
        assert!(allowed(&p.publish, "t1.intake.portal"));
        assert!(!allowed(&p.publish, "t1.intake.other"));
        assert!(allowed(
            &p.publish,
            "t1.cmd.submission.submit.as.publisher.portal"
        ));
        assert!(!allowed(
            &p.publish,
            "t1.cmd.ledger.approve_claim.as.publisher.portal"
        ));
        for kind in StreamKind::ALL
            .into_iter()
            .filter(|k| *k != StreamKind::Intake)
        {
            assert!(!allowed(&p.publish, &ns().subject(kind, "x")), "{kind:?}");
        }
        assert!(!p.publish.iter().any(|s| s.starts_with("$JS.API")));
    }

    #[test]
    fn four_eyes_are_two_roles() {
        let verifier = permissions(
            &ns(),
            &Identity::operator("verifier.anna").expect("op"),
            "UV",
        );
        let approver = permissions(
            &ns(),
            &Identity::operator("approver.ben").expect("op"),
            "UA",
        );
        assert!(allowed(
            &verifier.publish,
            "t1.cmd.ledger.verify_claim.as.verifier.anna"
        ));
        assert!(!allowed(
            &verifier.publish,
            "t1.cmd.ledger.approve_claim.as.verifier.anna"
        ));
        assert!(allowed(
            &approver.publish,
            "t1.cmd.ledger.approve_claim.as.approver.ben"
        ));
        assert!(!allowed(
            &approver.publish,
            "t1.cmd.ledger.verify_claim.as.approver.ben"
        ));
    }

    #[test]
    fn every_command_of_the_contract_belongs_to_some_role() {
        let granted: Vec<&str> = ROLES
            .iter()
            .flat_map(|(_, commands)| commands.iter().copied())
            .chain(PUBLISHER_COMMANDS)
            .chain(PARTNER_COMMANDS)
            .collect();
        for spec in buendel_contract::commands::ALL {
            let name = format!("{}.{}", spec.service.as_str(), spec.name);
            assert!(
                granted.contains(&name.as_str()),
                "{name} belongs to no role"
            );
        }
    }

    #[test]
    fn identities_are_written_as_subject_tokens() {
        assert!(Identity::operator("clerk.anna").is_err());
        assert!(Identity::operator("office.Anna").is_err());
        assert!(Identity::partner("non").is_err());
        assert!(Identity::publisher("por tal").is_err());
        assert_eq!(
            Identity::partner("non.hwk-bls")
                .expect("partner")
                .to_string(),
            "partner.non.hwk-bls"
        );
    }

    #[test]
    fn generated_seeds_are_private_and_kept() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("buendel-creds-{}", uuid::Uuid::new_v4()));
        let first = generate(&ns(), &dir, &[]).expect("generated");
        assert!(first.seeds.iter().all(|(_, _, made)| *made));
        let (_, owner, _) = &first.seeds[0];
        let mode = std::fs::metadata(owner).expect("seed").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let seed = std::fs::read_to_string(owner).expect("seed");
        let again =
            generate(&ns(), &dir, &[Identity::partner("non.dgb").expect("p")]).expect("again");
        assert_eq!(std::fs::read_to_string(owner).expect("seed"), seed, "kept");
        assert_eq!(again.seeds.iter().filter(|(_, _, made)| *made).count(), 1);
        let config = std::fs::read_to_string(&again.config).expect("config");
        assert!(
            !config.contains(seed.trim()),
            "no seed in the server's config"
        );
        assert!(config.contains("partner.non.dgb"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
