//! `megaport-operator catalog` (the built binary) against the simulator's QuantumGPU world:
//! the seed's answers for countries, metros and on-ramps, as tables and as JSON.

// Test helpers unwrap freely: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use megaport_sim::{RunningSimulator, Scenario, quantumgpu};
use serde_json::Value;

async fn catalog(sim: &RunningSimulator, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_megaport-operator"));
    cmd.arg("catalog")
        .args(args)
        .env("MEGAPORT_BASE_URL", sim.base_url())
        .env("MEGAPORT_TOKEN_URL", sim.token_url())
        .env("MEGAPORT_ACCESS_KEY", quantumgpu::PROVIDER_ADMIN_ID)
        .env("MEGAPORT_SECRET_KEY", quantumgpu::PROVIDER_ADMIN_SECRET)
        .env_remove("RUST_LOG");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "catalog {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn names(json: &str, field: &str) -> Vec<String> {
    let rows: Vec<Value> = serde_json::from_str(json).unwrap();
    rows.iter()
        .map(|r| r[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_catalog() {
    let sim = megaport_sim::spawn(Scenario::quantumgpu(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();

    let countries = catalog(&sim, &["countries", "-o", "json"]).await;
    assert_eq!(
        names(&countries, "country"),
        ["Australia", "Japan", "UK", "USA"]
    );
    let metros = catalog(&sim, &["metros", "--country", "USA", "-o", "json"]).await;
    assert_eq!(names(&metros, "metro"), ["Los Angeles", "New York"]);

    let la: Vec<Value> = serde_json::from_str(
        &catalog(&sim, &["onramps", "--metro", "Los Angeles", "-o", "json"]).await,
    )
    .unwrap();
    let port = |id: i64| {
        la.iter()
            .find(|o| o["locationId"] == id && o["productType"] == "Port" && o["eligible"] == true)
            .unwrap()
    };
    assert_eq!(port(59)["diversityZone"], "blue");
    assert_eq!(port(60)["diversityZone"], "red");

    // Filtering is visible: the CONFIGURED port and the vxcPermitted=false port say why.
    let all: Vec<Value> =
        serde_json::from_str(&catalog(&sim, &["onramps", "-o", "json"]).await).unwrap();
    let reasons: Vec<&str> = all.iter().filter_map(|o| o["reason"].as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("not LIVE")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("vxcPermitted is false")),
        "{reasons:?}"
    );

    let table = catalog(&sim, &["countries"]).await;
    assert!(table.starts_with("COUNTRY"), "{table}");
    assert!(table.contains("USA"));
    sim.shutdown().await;
}
