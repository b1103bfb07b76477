//! The operator as its real binary, killed between creating a key and recording it: after a
//! restart it adopts the key instead of creating a second one. Its debug logs, the request's
//! status and events never contain a service key, a token or the client secret.

use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};
use megaport_operator::crd::service_key_request::{Phase, ServiceKeyRequest};
use megaport_operator::delivery::fingerprint;
use megaport_sim::{Scenario, quantumgpu};
use serde_json::json;

use crate::issuing::{keys_of, request, secret_data, wait_phase};
use crate::support::{self, Identity, OperatorProcess, TestNamespace, eventually, log_path};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_create_and_record_never_duplicates_and_nothing_leaks() {
    let admin = support::client(Identity::Admin).await;
    support::grant_operator_role(&admin).await;
    let sim = megaport_sim::spawn(Scenario::quantumgpu(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let control = sim.control();
    let provider = support::megaport_client(
        &sim,
        quantumgpu::PROVIDER_ADMIN_ID,
        quantumgpu::PROVIDER_ADMIN_SECRET,
    );
    let ns = TestNamespace::new(&admin, "crash").await;
    let api: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &ns.name);

    // The create is carried out, but its answer is held for a minute: the operator is killed
    // while it waits, before it can record anything.
    support::hold_next_create(&control).await;
    let (first_log, second_log) = (log_path("first"), log_path("second"));
    let mut first = OperatorProcess::start(&sim, &first_log);
    let created = api
        .create(
            &PostParams::default(),
            &request(
                "crash",
                json!({"onRamp": {"productUid": quantumgpu::PORT_LAX_CS1_RED}, "maxSpeedMbps": 100}),
            ),
        )
        .await
        .unwrap();
    eventually("the create call", Duration::from_secs(60), || async {
        (control.counter("POST /v2/service/key").await.ok()? == 1).then_some(())
    })
    .await;
    let issued = eventually(
        "the key to exist in Megaport",
        Duration::from_secs(10),
        || async {
            let keys = keys_of(provider.as_ref(), &created).await;
            (keys.len() == 1).then_some(keys)
        },
    )
    .await;
    first.kill();
    let before = api.get("crash").await.unwrap();
    assert!(
        before.status.as_ref().is_none_or(|s| s.keys.is_empty()),
        "the first process recorded the key before it was killed: the test proves nothing"
    );

    // Restarted, the operator finds the key by its marker and adopts it.
    let mut second = OperatorProcess::start(&sim, &second_log);
    let done = wait_phase(&api, "crash", Phase::Issued).await;
    let keys = keys_of(provider.as_ref(), &done).await;
    assert_eq!(keys.len(), 1, "a second key was created");
    assert_eq!(keys[0].key, issued[0].key);
    assert_eq!(control.counter("POST /v2/service/key").await.unwrap(), 1);
    let status = done.status.clone().unwrap();
    assert_eq!(status.keys[0].fingerprint, fingerprint(&keys[0].key));
    let key = keys[0].key.expose().to_owned();
    assert_eq!(
        secret_data(&admin, &ns.name, "crash").await["serviceKey"],
        key
    );
    second.kill();

    // The record annotation removed while the operator was down: the keys are found by their
    // marker and the record is rebuilt; nothing is issued again.
    api.patch(
        "crash",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(
            json!({"metadata": {"annotations": {"megaport.onramp.dev/keys": null}}}),
        ),
    )
    .await
    .unwrap();
    let third_log = log_path("third");
    let mut third = OperatorProcess::start(&sim, &third_log);
    let rebuilt = eventually(
        "the record to be rebuilt",
        Duration::from_secs(30),
        || async {
            let r = api.get("crash").await.ok()?;
            r.annotations()
                .get("megaport.onramp.dev/keys")
                .filter(|v| v.contains(&fingerprint(&keys[0].key)))
                .cloned()
        },
    )
    .await;
    assert!(rebuilt.contains(quantumgpu::PORT_LAX_CS1_RED), "{rebuilt}");
    assert_eq!(control.counter("POST /v2/service/key").await.unwrap(), 1);
    assert_eq!(keys_of(provider.as_ref(), &done).await.len(), 1);
    support::delete_requests(&admin, &ns.name).await;
    third.kill();

    // Nothing secret in the logs (at debug level), the status or the events.
    let logs = format!(
        "{}{}{}",
        std::fs::read_to_string(&first_log).unwrap(),
        std::fs::read_to_string(&second_log).unwrap(),
        std::fs::read_to_string(&third_log).unwrap()
    );
    assert!(logs.contains("DEBUG"), "debug logging was not on");
    assert!(logs.contains("adopted a key issued earlier"), "{logs}");
    let events = Api::<Event>::namespaced(admin.clone(), &ns.name)
        .list(&ListParams::default())
        .await
        .unwrap();
    let events = serde_json::to_string(&events.items).unwrap();
    let status = serde_json::to_string(&done.status).unwrap();
    let annotations = serde_json::to_string(done.annotations()).unwrap();
    for (place, text) in [
        ("logs", &logs),
        ("events", &events),
        ("status", &status),
        ("annotations", &annotations),
    ] {
        for (what, needle) in [
            ("the service key", key.as_str()),
            ("the key's 8-character prefix", &key[..8]),
            ("the client secret", quantumgpu::PROVIDER_ADMIN_SECRET),
            ("a bearer token", "eyJ"),
        ] {
            assert!(!text.contains(needle), "{what} appears in the {place}");
        }
    }
    let _ = std::fs::remove_file(first_log);
    let _ = std::fs::remove_file(second_log);
    let _ = std::fs::remove_file(third_log);
    sim.shutdown().await;
}
