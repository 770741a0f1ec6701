//! The dashboard at `/` in a real headless browser (Debian's chromium with chromedriver) against a
//! running demo: every view loads with no console error, the funnel's counts and the burn-down's
//! latest figures are the API's, the proposal page shows the votes, the page is German with German
//! numbers by default and English on the switch, and a screenshot of each view is kept under
//! `target/tmp/dashboard/` (the test artefacts).

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::helpers::{spawn_app, TestApp};

/// Cents as the page writes them: German `2.340.000,00 €` (with a no-break space), English
/// `€2,340,000.00`.
fn euros(cents: i64, lang: &str) -> String {
    let sign = if cents < 0 { "−" } else { "" };
    let abs = cents.unsigned_abs();
    let euros = (abs / 100).to_string();
    let (thousands, decimal) = if lang == "de" { ('.', ',') } else { (',', '.') };
    let mut grouped = String::new();
    for (i, digit) in euros.chars().enumerate() {
        if i > 0 && (euros.len() - i).is_multiple_of(3) {
            grouped.push(thousands);
        }
        grouped.push(digit);
    }
    let rest = abs % 100;
    if lang == "de" {
        format!("{sign}{grouped}{decimal}{rest:02}\u{a0}€")
    } else {
        format!("{sign}€{grouped}{decimal}{rest:02}")
    }
}

#[test]
fn euros_are_written_as_each_language_writes_them() {
    assert_eq!(euros(234_000_000, "de"), "2.340.000,00\u{a0}€");
    assert_eq!(euros(-5, "en"), "−€0.05");
    assert_eq!(euros(123_456, "en"), "€1,234.56");
}

/// A system in its own namespace with the demo loaded and projected (its ten claims visible).
async fn demo() -> TestApp {
    let app = spawn_app().await;
    buendel::demo::load(&app.client, &app.store, app.settings.clock)
        .await
        .expect("demo loads");
    app.get_until("/v1/claims?limit=100", |_, body| {
        body["items"].as_array().map(Vec::len) == Some(10)
    })
    .await;
    app
}

/// Where the screenshots go.
fn artefacts() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard")
}

/// Waits until the view `name` has rendered (the page marks `main` with it when done).
async fn rendered(browser: &Browser, name: &str) {
    browser
        .wait_for(
            &format!("the {name} view"),
            &format!(
                "const m = document.getElementById('view'); \
                 return m && m.dataset.view === '{name}' && m.getAttribute('aria-busy') === 'false';"
            ),
        )
        .await;
}

/// Fails on any log entry of level SEVERE (console errors, failed loads, uncaught exceptions).
async fn no_console_errors(browser: &Browser, view: &str) {
    let errors: Vec<Value> = browser
        .log()
        .await
        .into_iter()
        .filter(|entry| entry["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "console errors on {view}: {errors:?}");
}

#[test]
fn the_dashboard_shows_the_apis_figures_in_a_real_browser_in_german_and_english() {
    // The walk through every view is one large future: in a debug build it needs more stack than a
    // test thread has, so it runs on a thread of its own with room for it.
    let walk = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(walk_every_view());
        })
        .expect("the walk starts");
    if let Err(panic) = walk.join() {
        std::panic::resume_unwind(panic);
    }
}

async fn walk_every_view() {
    // Given the demo, projected, and the API on a port
    let app = demo().await;
    let pipeline = app
        .get_until("/v1/pipeline", |_, body| {
            let submitted: i64 = body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["stages"]["submitted"].as_i64())
                .sum();
            submitted == 15
        })
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let shutdown = buendel_runtime::CancellationToken::new();
    let state = buendel_api::AppState::new(app.pool.clone()).with_clock(app.settings.clock);
    let server = tokio::spawn(buendel_api::serve(listener, state, shutdown.clone()));
    let browser = Browser::start(1280, 1000).await;
    let shots = artefacts();

    // When the pipeline opens (German by default), then every stage and drop-off shows the API's
    // count, and the by-status counts are those of /v1/alliances
    browser.open(&format!("{base}/#/pipeline")).await;
    rendered(&browser, "pipeline").await;
    assert_eq!(
        browser
            .run("return document.documentElement.lang", json!([]))
            .await,
        "de"
    );
    for alliance in pipeline["items"].as_array().into_iter().flatten() {
        let id = alliance["alliance_id"].as_str().expect("alliance id");
        for (part, prefix) in [("stages", "stage"), ("drop_offs", "drop")] {
            for (name, count) in alliance[part].as_object().expect("counts") {
                let shown = browser
                    .run(
                        "const e = document.getElementById(arguments[0]); \
                         return e ? Number(e.dataset.count) : null;",
                        json!([format!("{prefix}-{id}-{name}")]),
                    )
                    .await;
                assert_eq!(&shown, count, "{prefix} {name} of {id}");
            }
        }
        let (_, detail) = app.get(&format!("/v1/alliances/{id}")).await;
        assert_eq!(
            alliance["by_status"], detail["proposals_by_status"],
            "the funnel counts what /v1/alliances counts"
        );
    }
    browser.screenshot(&shots.join("pipeline-de.png")).await;
    no_console_errors(&browser, "pipeline").await;
    // On a phone the page reflows into one column: nothing wider than the screen
    browser.resize(390, 844).await;
    let overflow = browser
        .run(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            json!([]),
        )
        .await;
    assert_eq!(overflow, 0, "the pipeline scrolls sideways on a phone");
    browser
        .screenshot(&shots.join("pipeline-phone-de.png"))
        .await;
    browser.resize(1280, 1000).await;

    // When the budget opens, then the latest figures of the fund it shows are the fund's, written
    // the German way; and so for another fund chosen in the list
    browser.open(&format!("{base}/#/budget")).await;
    rendered(&browser, "budget").await;
    let first_fund = browser
        .run(
            "return document.getElementById('fund-select').value",
            json!([]),
        )
        .await;
    for fund_id in [
        first_fund.as_str().expect("a fund").to_owned(),
        "son-2014-2020".to_owned(),
    ] {
        browser
            .run(
                "const s = document.getElementById('fund-select'); s.value = arguments[0]; \
                 document.getElementById('view').dataset.view = ''; \
                 s.dispatchEvent(new Event('change'));",
                json!([fund_id]),
            )
            .await;
        rendered(&browser, "budget").await;
        browser
            .wait_for(
                &format!("the figures of {fund_id}"),
                &format!("return document.getElementById('latest-{fund_id}-total-allocated');"),
            )
            .await;
        let (_, fund) = app.get(&format!("/v1/funds/{fund_id}")).await;
        for figure in [
            "allocated",
            "reserved",
            "committed",
            "disbursed",
            "recovered",
            "available",
        ] {
            let cell = browser
                .run(
                    "const e = document.getElementById(arguments[0]); \
                     return e ? [Number(e.dataset.cents), e.textContent] : null;",
                    json!([format!("latest-{fund_id}-total-{figure}")]),
                )
                .await;
            let cents = fund["total"][figure].as_i64().expect("cents");
            assert_eq!(
                cell,
                json!([cents, euros(cents, "de")]),
                "{fund_id} {figure}"
            );
        }
        browser
            .screenshot(&shots.join(format!("budget-{fund_id}-de.png")))
            .await;
    }
    // And its links to the journal and the annual report download what they say
    let downloads = browser
        .run(
            "return Promise.all([...document.querySelectorAll('a[data-export]')].map(a => \
                 fetch(a.href).then(r => [a.dataset.export, r.status, \
                     (r.headers.get('content-type') || '').split(';')[0]])))",
            json!([]),
        )
        .await;
    let downloads = downloads.as_array().expect("links").clone();
    assert_eq!(
        downloads.len(),
        3,
        "XLSX and CSV of the journal, the report: {downloads:?}"
    );
    for link in &downloads {
        let want = match link[0].as_str() {
            Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Some("csv") => "text/csv",
            _ => "text/html",
        };
        assert_eq!(link[1], 200, "{link}");
        assert_eq!(link[2], want, "{link}");
    }
    no_console_errors(&browser, "budget").await;

    // When the decision times and the exceptions open, then they show the API's figures
    browser.open(&format!("{base}/#/times")).await;
    rendered(&browser, "times").await;
    let (_, times) = app.get("/v1/decision-times").await;
    let rows = browser
        .run(
            "return document.querySelectorAll('#decision-times tbody tr').length",
            json!([]),
        )
        .await;
    assert_eq!(rows, json!(times["items"].as_array().map(Vec::len)));
    browser.screenshot(&shots.join("times-de.png")).await;
    no_console_errors(&browser, "times").await;

    browser.open(&format!("{base}/#/exceptions")).await;
    rendered(&browser, "exceptions").await;
    let (_, exceptions) = app.get("/v1/exceptions").await;
    let count = |id: &'static str| {
        let browser = &browser;
        async move {
            browser
                .run(
                    "return Number(document.getElementById(arguments[0]).dataset.count)",
                    json!([id]),
                )
                .await
        }
    };
    assert_eq!(
        count("x-recoveries-count").await,
        exceptions["open_recoveries_total"]
    );
    assert_eq!(
        count("x-deadletters-count").await,
        1,
        "the demo's dead letter"
    );
    browser.screenshot(&shots.join("exceptions-de.png")).await;
    no_console_errors(&browser, "exceptions").await;

    // When a proposal with a review opens, then its votes are the API's, one row each
    let (_, granted) = app.get("/v1/proposals?status=granted&limit=1").await;
    let id = granted["items"][0]["proposal_id"]
        .as_str()
        .expect("a granted proposal")
        .to_owned();
    let (_, proposal) = app.get(&format!("/v1/proposals/{id}")).await;
    browser.open(&format!("{base}/#/proposal/{id}")).await;
    rendered(&browser, "proposal").await;
    let votes = browser
        .run(
            "return [...document.querySelectorAll('#votes [data-vote]')].map(e => e.dataset.vote)",
            json!([]),
        )
        .await;
    let want: Vec<&Value> = proposal["review"]["votes"]
        .as_array()
        .expect("votes")
        .iter()
        .map(|v| &v["vote"])
        .collect();
    assert!(!want.is_empty());
    assert_eq!(votes, json!(want));
    let proofs = browser
        .run(
            "return [...document.querySelectorAll('#timeline a')].map(a => a.getAttribute('href'))",
            json!([]),
        )
        .await;
    assert!(
        proofs.as_array().is_some_and(|links| links.iter().any(|l| l
            .as_str()
            .is_some_and(|l| l.starts_with("/v1/logs/ledger/proof/")))),
        "the ledger entries link to their proofs: {proofs}"
    );
    browser.screenshot(&shots.join("proposal-de.png")).await;
    no_console_errors(&browser, "proposal").await;

    // When the language is switched, then the page is English, with English numbers, and stays
    // so on the next view
    browser
        .run("document.getElementById('lang').click()", json!([]))
        .await;
    browser
        .wait_for(
            "the English page",
            "return document.documentElement.lang === 'en' && \
                document.getElementById('view').getAttribute('aria-busy') === 'false' && \
                document.getElementById('h-review').textContent === 'Review';",
        )
        .await;
    browser.screenshot(&shots.join("proposal-en.png")).await;
    browser.open(&format!("{base}/#/budget")).await;
    rendered(&browser, "budget").await;
    let fund_id = browser
        .run(
            "return document.getElementById('fund-select').value",
            json!([]),
        )
        .await;
    let fund_id = fund_id.as_str().expect("a fund");
    let (_, fund) = app.get(&format!("/v1/funds/{fund_id}")).await;
    let allocated = fund["total"]["allocated"].as_i64().expect("cents");
    let shown = browser
        .run(
            "return document.getElementById(arguments[0]).textContent",
            json!([format!("latest-{fund_id}-total-allocated")]),
        )
        .await;
    assert_eq!(shown, euros(allocated, "en"), "English numbers");
    browser.screenshot(&shots.join("budget-en.png")).await;

    // And the page can be used without a mouse and read by a screen reader: every control has a
    // label, every chart a text alternative
    let unlabelled = browser
        .run(
            "return [...document.querySelectorAll('select')].filter(s => \
                 !document.querySelector(`label[for=\"${s.id}\"]`)).length + \
             [...document.querySelectorAll('svg[role=img]')].filter(s => \
                 !s.getAttribute('aria-label')).length",
            json!([]),
        )
        .await;
    assert_eq!(unlabelled, 0);
    no_console_errors(&browser, "the English pages").await;

    browser.close().await;
    shutdown.cancel();
    server
        .await
        .expect("joined")
        .expect("the API stops cleanly");
    app.cleanup().await;
}

#[tokio::test]
async fn the_burn_down_is_the_funds_figures_day_by_day_and_the_funnel_counts_every_proposal_once() {
    // Given the demo, projected
    let app = demo().await;
    let (_, funds) = app.get("/v1/funds?limit=100").await;
    let funds = funds["items"].as_array().expect("funds").clone();
    assert_eq!(funds.len(), 4, "two periods of two alliances");
    for fund in &funds {
        let fund_id = fund["fund_id"].as_str().expect("id");
        // When its history is read, then each point is what the fund showed at the end of that
        // day, and the last one is the fund now
        let (status, history) = app.get(&format!("/v1/funds/{fund_id}/history")).await;
        assert_eq!(status, 200, "{history}");
        let points = history["points"].as_array().expect("points");
        assert!(!points.is_empty(), "{fund_id} has entries");
        for point in points {
            let day = point["value_date"].as_str().expect("day");
            let (_, then) = app.get(&format!("/v1/funds/{fund_id}?as_of={day}")).await;
            for part in ["esf_plus", "land", "total"] {
                assert_eq!(point[part], then[part], "{fund_id} {part} on {day}");
            }
        }
        let last = points.last().expect("a point");
        for part in ["esf_plus", "land", "total"] {
            assert_eq!(last[part], fund[part], "{fund_id} {part} now");
        }
        assert_eq!(history["commit_deadline"], fund["commit_deadline"]);
    }
    // And the closed period's forecast, drawn over years of bookings, binds money at a positive
    // pace and leaves exactly what the fund has available, its deadline long past
    let (_, old) = app.get("/v1/funds/son-2014-2020/history").await;
    let forecast = &old["forecast"];
    assert!(
        forecast["bound_per_day_cents"].as_i64() > Some(0),
        "{forecast}"
    );
    let (_, fund) = app.get("/v1/funds/son-2014-2020").await;
    assert_eq!(
        forecast["left_at_deadline_cents"], fund["total"]["available"],
        "{forecast}"
    );
    assert_eq!(old["eligible_until"], "2023-12-31");

    // When the funnel is read, then each alliance's stages never widen, every proposal is
    // submitted once, and its statuses are those /v1/alliances counts
    let (_, pipeline) = app.get("/v1/pipeline").await;
    let mut submitted = 0;
    for alliance in pipeline["items"].as_array().expect("alliances") {
        let stages = &alliance["stages"];
        let order = [
            "submitted",
            "screened",
            "in_review",
            "statement",
            "granted",
            "paid",
        ];
        for pair in order.windows(2) {
            assert!(
                stages[pair[0]].as_i64() >= stages[pair[1]].as_i64(),
                "{pair:?} in {alliance}"
            );
        }
        assert!(stages["granted"].as_i64() >= stages["closed"].as_i64());
        let by_status: i64 = alliance["by_status"]
            .as_object()
            .expect("by status")
            .values()
            .filter_map(Value::as_i64)
            .sum();
        assert_eq!(Some(by_status), stages["submitted"].as_i64());
        submitted += by_status;
        let id = alliance["alliance_id"].as_str().expect("id");
        let (_, detail) = app.get(&format!("/v1/alliances/{id}")).await;
        assert_eq!(alliance["by_status"], detail["proposals_by_status"]);
        let (_, only) = app.get(&format!("/v1/pipeline?alliance={id}")).await;
        assert_eq!(only["items"], json!([alliance]));
    }
    let (_, all) = app.get("/v1/proposals?limit=100").await;
    assert_eq!(
        Some(submitted),
        all["items"].as_array().map(|a| a.len() as i64)
    );
    // And the decision times count every statement and grant the reviews have
    let (_, times) = app.get("/v1/decision-times").await;
    let statements: i64 = times["items"]
        .as_array()
        .expect("months")
        .iter()
        .filter_map(|m| m["to_statement"]["count"].as_i64())
        .sum();
    let with_statement = all["items"]
        .as_array()
        .expect("proposals")
        .iter()
        .filter(|p| {
            [
                "statement_positive",
                "statement_negative",
                "waitlisted",
                "funds_reserved",
                "granted",
                "closed",
                "refused",
            ]
            .contains(&p["status"].as_str().unwrap_or(""))
        })
        .count();
    assert!(statements >= with_statement as i64, "{times}");
    // And the exceptions list the demo's open recovery
    let (_, exceptions) = app.get("/v1/exceptions").await;
    assert_eq!(exceptions["open_recoveries_total"], 1, "{exceptions}");
    let open = &exceptions["open_recoveries"][0];
    assert_eq!(
        open["outstanding_cents"].as_i64(),
        Some(
            open["recovered_cents"].as_i64().unwrap_or(0)
                - open["repaid_cents"].as_i64().unwrap_or(0)
        )
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_recorded_audit_shows_in_the_exceptions_and_one_that_finds_a_tampered_balance_names_it() {
    // Given the demo, projected, and no audit recorded yet
    let app = demo().await;
    let (_, before) = app.get("/v1/exceptions").await;
    assert!(before["latest_audit"].is_null(), "{before}");
    let options = buendel_audit::Options::default();
    let audit = || async {
        let report = buendel_audit::verify_online(&app.store, Some(&app.pool), &options, |_, _| {})
            .await
            .expect("the audit runs");
        buendel::audit::record(&app.pool, &report, app.settings.clock.now())
            .await
            .expect("recorded");
        report
    };
    // When an audit of the whole ledger is recorded, then the exceptions show it clean
    let clean = audit().await;
    assert!(clean.ok, "{clean:?}");
    let (_, after) = app.get("/v1/exceptions").await;
    let run = &after["latest_audit"];
    assert_eq!(run["ok"], true, "{after}");
    assert_eq!(run["difference_count"], 0);
    assert_eq!(run["events"], clean.events);
    // When a projected balance is tampered with and the audit runs again, then the latest run is
    // the failing one and names the balance
    sqlx::query(
        "UPDATE fund_balances SET balance_cents = balance_cents + 1 \
         WHERE fund_id = 'non-2021-2027' AND source = 'esf_plus' AND account_kind = 'available'",
    )
    .execute(&app.pool)
    .await
    .expect("tampered");
    let broken = audit().await;
    assert!(!broken.ok);
    let (_, after) = app.get("/v1/exceptions").await;
    let run = &after["latest_audit"];
    assert_eq!(run["ok"], false, "{after}");
    assert!(run["difference_count"].as_i64() > Some(0), "{after}");
    let keys: Vec<&str> = run["differences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["key"].as_str())
        .collect();
    assert!(
        keys.iter()
            .any(|k| k.contains("non-2021-2027") && k.contains("available")),
        "{keys:?}"
    );
    app.cleanup().await;
}
