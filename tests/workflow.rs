//! The workflow engine on a real database: the hash-chained event log, clocks that follow the
//! workflow, concurrent actions, and `rectify audit verify` catching tampering.

mod common;

use chrono::{Duration, Utc};
use common::{TestApp, backends, valid_form, with};
use rectify::db::entities::{incident, incident_clock, incident_event, report};
use rectify::db::workflow::{ActError, act, no_mail};
use rectify::domain::audit::{StoredEvent, truncate_micros};
use rectify::domain::severity::{SeriousKind, Severity};
use rectify::domain::workflow::{Action, Actor, MergeTarget, Role, replay_stored};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Statement};

fn lead() -> Actor {
    Actor::user(1, "lead@example.com", Role::Lead)
}

async fn submit(app: &TestApp, output: &str) -> i64 {
    common::submit_form(app, &with(valid_form(), "output", output))
        .await
        .0
}

async fn events(app: &TestApp, id: i64) -> Vec<StoredEvent> {
    incident_event::Entity::find()
        .filter(incident_event::Column::IncidentId.eq(id))
        .order_by_asc(incident_event::Column::Seq)
        .all(&app.db.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|e| StoredEvent {
            incident_id: e.incident_id,
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            action: e.action,
            from: e.from_state,
            to: e.to_state,
            data: serde_json::from_str(&e.data).unwrap(),
            prev_hash: e.prev_hash,
            hash: e.hash,
        })
        .collect()
}

async fn clock(app: &TestApp, id: i64, name: &str) -> Option<incident_clock::Model> {
    incident_clock::Entity::find()
        .filter(incident_clock::Column::IncidentId.eq(id))
        .filter(incident_clock::Column::Clock.eq(name))
        .one(&app.db.conn)
        .await
        .unwrap()
}

async fn row(app: &TestApp, id: i64) -> incident::Model {
    incident::Entity::find_by_id(id)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_to_resolved_builds_a_verifiable_chain_and_moves_the_clocks() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let policy = app.settings.deadlines.clone();
        let id = submit(&app, "harmful answer one").await;
        let first = row(&app, id).await;
        let remediate = clock(&app, id, "remediate")
            .await
            .expect("remediate clock starts at the first report");
        assert_eq!(remediate.started_at, first.first_reported_at);
        assert_eq!(remediate.status, "running");
        assert!(
            clock(&app, id, "contain").await.is_none(),
            "contain starts at triage"
        );
        assert_eq!(
            first.next_due_clock.as_deref(),
            Some("triage"),
            "nearest deadline"
        );

        let now = truncate_micros(Utc::now());
        let steps = [
            Action::Triage {
                category: "accuracy.inaccurate".into(),
                severity: Severity::High,
            },
            Action::Contain {
                filter_rule: "rule-17".into(),
                blocks: "answers naming Sydney as capital".into(),
            },
            Action::PlanFix {
                plan: "add counterexamples to the SFT set".into(),
                reference_answer: Some("The capital of Australia is Canberra.".into()),
                refusal_style: None,
            },
            Action::StartRetraining {
                training_run: "run-2026-11-29".into(),
            },
            Action::SubmitForVerification {
                model_version: "demo-chat 2026-12".into(),
            },
            Action::VerifyFail {
                prompts: "capital prompts x20".into(),
                outcome: "3 of 20 still wrong".into(),
                run_id: None,
                failed_cases: vec![],
            },
            Action::StartRetraining {
                training_run: "run-2026-11-30".into(),
            },
            Action::SubmitForVerification {
                model_version: "demo-chat 2026-12b".into(),
            },
            Action::VerifyPass {
                prompts: "capital prompts x20".into(),
                outcome: "20 of 20 right".into(),
                run_id: None,
            },
        ];
        let mut version = 1;
        for (i, a) in steps.iter().enumerate() {
            let inc = act(
                &app.db,
                &policy,
                id,
                Some(version),
                a,
                &lead(),
                now + Duration::hours(i as i64),
                &no_mail,
            )
            .await
            .unwrap();
            assert_eq!(inc.version, version + 1, "one event per action");
            version = inc.version;
            if i == 0 {
                let contain = clock(&app, id, "contain")
                    .await
                    .expect("high severity starts contain");
                assert_eq!(contain.due_at, now + Duration::hours(48));
                assert_eq!(clock(&app, id, "triage").await.unwrap().status, "met");
            }
        }
        let done = row(&app, id).await;
        assert_eq!(done.state, "resolved");
        assert_eq!(clock(&app, id, "remediate").await.unwrap().status, "met");
        assert_eq!(clock(&app, id, "contain").await.unwrap().status, "met");
        assert!(done.next_due_at.is_none(), "no running clock left");

        let chain = events(&app, id).await;
        assert_eq!(chain.len() as i64, done.version);
        rectify::domain::audit::verify_chain_to(id, &chain, done.version).unwrap();
        let replayed = replay_stored(id, &chain).unwrap().unwrap();
        assert_eq!(
            replayed,
            rectify::db::incidents::to_domain(&done).unwrap(),
            "the row is the fold of its events"
        );
        match rectify::db::audit::verify_all(&app.db).await.unwrap() {
            rectify::db::audit::Verdict::Holds { incidents, events } => {
                assert_eq!((incidents, events), (1, done.version as u64));
            }
            b => panic!("{b:?}"),
        }

        // Refusals change nothing.
        let refused = act(
            &app.db,
            &policy,
            id,
            None,
            &Action::PlanFix {
                plan: "again".into(),
                reference_answer: Some("Canberra.".into()),
                refusal_style: None,
            },
            &lead(),
            now,
            &no_mail,
        )
        .await;
        assert!(matches!(refused, Err(ActError::Refused(_))));
        assert_eq!(row(&app, id).await.version, done.version);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_hold_blocks_retraining_until_the_authority_is_told() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let policy = app.settings.deadlines.clone();
        let id = submit(&app, "serious answer").await;
        let now = truncate_micros(Utc::now());
        let compliance = Actor::user(2, "c@example.com", Role::Compliance);
        for a in [
            Action::Triage {
                category: "rights.health".into(),
                severity: Severity::Critical,
            },
            Action::Contain {
                filter_rule: "r".into(),
                blocks: "b".into(),
            },
            Action::PlanFix {
                plan: "p".into(),
                reference_answer: None,
                refusal_style: Some("I can't help with that.".into()),
            },
        ] {
            act(&app.db, &policy, id, None, &a, &lead(), now, &no_mail)
                .await
                .unwrap();
        }
        act(
            &app.db,
            &policy,
            id,
            None,
            &Action::SetSerious {
                kind: Some(SeriousKind::Death),
            },
            &lead(),
            now,
            &no_mail,
        )
        .await
        .unwrap();
        let authority = clock(&app, id, "authority_report")
            .await
            .expect("serious flag starts the authority clock");
        assert_eq!(authority.status, "running");
        let refused = act(
            &app.db,
            &policy,
            id,
            None,
            &Action::StartRetraining {
                training_run: "r1".into(),
            },
            &lead(),
            now,
            &no_mail,
        )
        .await;
        match refused {
            Err(ActError::Refused(r)) => {
                assert!(r.reason().contains("Art. 73(6)"), "{}", r.reason())
            }
            other => panic!("expected refusal, got {other:?}"),
        }
        act(
            &app.db,
            &policy,
            id,
            None,
            &Action::RecordAuthorityReport {
                reference: "MSA-2026-001".into(),
            },
            &compliance,
            now,
            &no_mail,
        )
        .await
        .unwrap();
        assert_eq!(
            clock(&app, id, "authority_report").await.unwrap().status,
            "met"
        );
        act(
            &app.db,
            &policy,
            id,
            None,
            &Action::StartRetraining {
                training_run: "r1".into(),
            },
            &lead(),
            now,
            &no_mail,
        )
        .await
        .unwrap();
        assert_eq!(row(&app, id).await.state, "retraining");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_people_acting_at_once_one_wins_and_the_other_gets_a_conflict() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let policy = app.settings.deadlines.clone();
        for round in 0..5 {
            let id = submit(&app, &format!("race {round}")).await;
            let now = truncate_micros(Utc::now());
            let a = Action::Triage {
                category: "accuracy".into(),
                severity: Severity::Low,
            };
            let b = Action::Reject {
                reasons: "not our model".into(),
            };
            let (db1, db2, p1, p2) = (
                app.db.clone(),
                app.db.clone(),
                policy.clone(),
                policy.clone(),
            );
            let t1 = tokio::spawn(async move {
                act(&db1, &p1, id, Some(1), &a, &lead(), now, &no_mail).await
            });
            let t2 = tokio::spawn(async move {
                act(&db2, &p2, id, Some(1), &b, &lead(), now, &no_mail).await
            });
            let (r1, r2) = (t1.await.unwrap(), t2.await.unwrap());
            let oks = [r1.is_ok(), r2.is_ok()].iter().filter(|x| **x).count();
            assert_eq!(oks, 1, "{backend:?}: exactly one wins: {r1:?} / {r2:?}");
            let loser = if r1.is_ok() { r2 } else { r1 };
            assert!(
                matches!(loser, Err(ActError::Conflict)),
                "the other is told: {loser:?}"
            );
            let inc = row(&app, id).await;
            assert_eq!(inc.version, 2, "exactly one event appended");
            assert_eq!(events(&app, id).await.len(), 2);
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_moves_reports_and_the_first_report_instant() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let policy = app.settings.deadlines.clone();
        let older = submit(&app, "first wording").await;
        let newer = submit(&app, "second wording").await;
        let older_first = row(&app, older).await.first_reported_at;
        let now = truncate_micros(Utc::now());
        let triager = Actor::user(3, "t@example.com", Role::Triager);
        act(
            &app.db,
            &policy,
            older,
            None,
            &Action::Merge {
                target: MergeTarget {
                    id: newer,
                    state: None,
                },
            },
            &triager,
            now,
            &no_mail,
        )
        .await
        .unwrap();
        let dup = row(&app, older).await;
        let target = row(&app, newer).await;
        assert_eq!(dup.state, "duplicate");
        assert_eq!(dup.duplicate_of, Some(newer));
        assert_eq!(target.report_count, 2);
        assert_eq!(
            target.first_reported_at, older_first,
            "the earlier first report moves with the merge"
        );
        assert_eq!(
            clock(&app, newer, "remediate").await.unwrap().started_at,
            older_first,
            "the deadline follows it"
        );
        let reports = report::Entity::find()
            .filter(report::Column::IncidentId.eq(newer))
            .all(&app.db.conn)
            .await
            .unwrap();
        assert_eq!(reports.len(), 2);
        assert!(clock(&app, older, "remediate").await.unwrap().status != "running");
        // A duplicate cannot be a merge target, nor can an incident merge into itself.
        let third = submit(&app, "third wording").await;
        let refused = act(
            &app.db,
            &policy,
            third,
            None,
            &Action::Merge {
                target: MergeTarget {
                    id: older,
                    state: None,
                },
            },
            &triager,
            now,
            &no_mail,
        )
        .await;
        assert!(matches!(refused, Err(ActError::Refused(_))), "{refused:?}");
        let refused = act(
            &app.db,
            &policy,
            third,
            None,
            &Action::Merge {
                target: MergeTarget {
                    id: 999_999,
                    state: None,
                },
            },
            &triager,
            now,
            &no_mail,
        )
        .await;
        assert!(matches!(refused, Err(ActError::Refused(_))), "{refused:?}");

        // Split the older report back out into an incident of its own.
        let moved = reports
            .iter()
            .find(|r| r.output == "first wording")
            .unwrap();
        act(
            &app.db,
            &policy,
            newer,
            None,
            &Action::SplitOut {
                report_id: moved.id,
                new_incident_id: 0,
            },
            &triager,
            now,
            &no_mail,
        )
        .await
        .unwrap();
        let moved_now = report::Entity::find_by_id(moved.id)
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(moved_now.incident_id, newer);
        let split = row(&app, moved_now.incident_id).await;
        assert_eq!(split.state, "new");
        assert_eq!(split.first_reported_at, moved.received_at);
        assert_eq!(row(&app, newer).await.report_count, 1);
        assert!(matches!(
            rectify::db::audit::verify_all(&app.db).await.unwrap(),
            rectify::db::audit::Verdict::Holds { .. }
        ));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_catches_an_edited_row() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let policy = app.settings.deadlines.clone();
        let id = submit(&app, "to be tampered with").await;
        submit(&app, "another incident").await;
        act(
            &app.db,
            &policy,
            id,
            None,
            &Action::Reject {
                reasons: "not a problem".into(),
            },
            &lead(),
            Utc::now(),
            &no_mail,
        )
        .await
        .unwrap();
        let verify = || {
            std::process::Command::new(env!("CARGO_BIN_EXE_rectify"))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .args(["audit", "verify"])
                .env("RECTIFY_DATABASE__URL", &app.test_db.url)
                .output()
                .unwrap()
        };
        let ok = verify();
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stdout)
        );
        assert!(String::from_utf8_lossy(&ok.stdout).contains("all chains hold"));

        // Someone softens the statement of reasons after the fact.
        app.db.conn.execute_raw(Statement::from_string(
            app.db.backend(),
            format!("UPDATE incident_events SET data = '{{\"reasons\":\"edited\"}}' WHERE incident_id = {id} AND seq = 2"),
        )).await.unwrap();
        let out = verify();
        assert_eq!(out.status.code(), Some(1), "a break exits 1");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("incident {id}")) && text.contains('2'),
            "names the first broken link: {text}"
        );
        app.stop().await;
    }
}

#[test]
fn policy_explain_prints_every_clock() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "policy",
            "explain",
            "--reported-at",
            "2026-07-01T10:00:00+08:00",
            "--severity",
            "high",
            "--serious",
            "widespread",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let due = |name: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["due_utc"].as_str().unwrap().to_string())
    };
    // 3 calendar months from 2026-07-01 (Shanghai) is Oct 1, a National Day holiday: the last day
    // rolls to the first working day, Oct 8, ending at 24:00 Shanghai time.
    assert_eq!(due("remediate").as_deref(), Some("2026-10-08T16:00:00Z"));
    assert_eq!(
        due("contain").as_deref(),
        Some("2026-07-03T02:00:00Z"),
        "48 hours, exact"
    );
    // Widespread infringement: 2 days (Brussels), Jul 3 2026 is a Friday: ends 24:00 Friday CEST.
    assert_eq!(
        due("authority_report").as_deref(),
        Some("2026-07-03T22:00:00Z")
    );
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "policy",
            "explain",
            "--reported-at",
            "2026-07-01T10:00:00+08:00",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("remediate") && text.contains("Asia/Shanghai") && !text.contains("contain "),
        "{text}"
    );
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["policy", "explain", "--reported-at", "yesterday"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));
}
