//! The controllers' contexts: [`Shared`] (the client, the products snapshot, one recorder, the
//! tunables, the backoff), which is the OnRampRegion controller's; [`Context`], the
//! ServiceKeyRequest controller's: what is shared plus the keys snapshot and port, the claim
//! ledger, the decision and on-ramp locks and the record seal; and [`Orders`], the
//! SavedConfiguration controller's: what is shared plus the accounts, its own last order
//! records, the per-product buy locks and the seal.

use crate::sync::Locked;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use super::backoff::Backoff;
use super::cache::{KeysCache, ProductsCache};
use super::ledger::Ledger;
use crate::approvals::DecisionRecord;
use crate::health::Health;
use crate::issuance::{Record, RecordSeal};
use crate::lease::Leadership;
use crate::megaport::{Accounts, OrderingApi, ProductsApi, ServiceKeysApi};
use crate::metrics::Metrics;
use crate::ordering::OrderRecord;

/// Tunables of the controllers.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How old the shared products snapshot may get before one refresh is made.
    pub products_refresh: Duration,
    /// How old the shared service keys snapshot may get (the poll period of key states).
    pub keys_refresh: Duration,
    /// Reconciles running at once per controller.
    pub concurrency: u16,
    /// First retry delay after an error (doubles per failure, reset on success).
    pub backoff_min: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Least time between two updates of one key (Megaport allows one update per service per
    /// 5 minutes, 100 per month): spec changes in between are coalesced, restores wait.
    pub update_spacing: Duration,
    /// How often a request that is done is looked at again anyway: changes in Megaport bring
    /// it back within a poll period; this is the safety net.
    pub resync: Duration,
    /// How often a saved configuration is checked and priced again when nothing changed
    /// (each check is a few Megaport calls: markets, key lookups, validate).
    pub validation_interval: Duration,
    /// How often an ordered configuration looks at its services while they provision.
    pub provisioning_poll: Duration,
    /// The controllers to run (a customer that only orders runs SavedConfiguration alone).
    pub controllers: Vec<Kind>,
    /// Only the SavedConfigurations matching this label selector are this operator's (a
    /// cluster ordering for several Megaport accounts runs one operator per account).
    pub configuration_selector: Option<String>,
}

/// The kinds the operator has a controller for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "PascalCase")]
pub enum Kind {
    /// OnRampRegion.
    OnRampRegion,
    /// ServiceKeyRequest.
    ServiceKeyRequest,
    /// SavedConfiguration.
    SavedConfiguration,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Self; 3] = [
        Self::OnRampRegion,
        Self::ServiceKeyRequest,
        Self::SavedConfiguration,
    ];
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            products_refresh: Duration::from_secs(300),
            keys_refresh: Duration::from_secs(60),
            concurrency: 4,
            backoff_min: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
            update_spacing: Duration::from_secs(300),
            resync: Duration::from_secs(3600),
            validation_interval: Duration::from_secs(86_400),
            provisioning_poll: Duration::from_secs(30),
            controllers: Kind::ALL.to_vec(),
            configuration_selector: None,
        }
    }
}

/// The Megaport ports the controllers call: products (the regions and the shared products
/// snapshot), service keys (the requests and the shared keys snapshot) and the accounts orders
/// are placed for (the configurations).
#[derive(Clone)]
pub struct Ports {
    /// Products and locations.
    pub products: Arc<dyn ProductsApi>,
    /// Service keys.
    pub keys: Arc<dyn ServiceKeysApi>,
    /// The whole API, for the company or acting for a managed one.
    pub accounts: Arc<dyn Accounts>,
}

impl Ports {
    /// Every port from one implementation (a client, or the in-process fake).
    pub fn of<A: ProductsApi + ServiceKeysApi + Accounts + 'static>(api: Arc<A>) -> Self {
        Self {
            products: api.clone(),
            keys: api.clone(),
            accounts: api,
        }
    }
}

/// What the process around the controllers provides: its metrics, the probes' state, and
/// whether this replica may write (the leader, or the only one).
#[derive(Clone, Default)]
pub struct Process {
    /// Where reconciles, snapshots and keys are counted.
    pub metrics: Metrics,
    /// What `/readyz` reports.
    pub health: Health,
    /// Whether this replica reconciles and writes.
    pub leadership: Leadership,
}

/// What both controllers share: the client, the products snapshot, one recorder, the tunables,
/// the unreadable-object memo and the backoff. The OnRampRegion controller's context.
pub struct Shared {
    /// Kubernetes client (the operator's identity).
    pub client: Client,
    /// The shared products snapshot.
    pub products: Arc<ProductsCache>,
    /// One recorder for the process (it folds repeats into series).
    pub recorder: Recorder,
    /// Tunables.
    pub settings: Settings,
    /// Metrics, probes and leadership.
    pub process: Process,
    /// Objects reported as unreadable: UID → generation.
    invalid: Mutex<HashMap<String, i64>>,
    pub(super) backoff: Backoff,
}

impl Shared {
    /// What the controllers share, over `client` and the products port.
    pub fn new(client: Client, products: Arc<dyn ProductsApi>, settings: Settings) -> Self {
        Self::in_process(client, products, settings, Process::default())
    }

    /// What the controllers share, reporting to `process`.
    pub fn in_process(
        client: Client,
        products: Arc<dyn ProductsApi>,
        settings: Settings,
        process: Process,
    ) -> Self {
        let reporter = Reporter {
            controller: "megaport-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            products: Arc::new(ProductsCache::products(products, settings.products_refresh)),
            invalid: Mutex::new(HashMap::new()),
            client,
            backoff: Backoff::new(settings.backoff_min, settings.backoff_max),
            settings,
            process,
        }
    }

    /// Whether the unreadable object `uid` was reported at `generation` already.
    pub fn invalid_reported(&self, uid: &str, generation: i64) -> bool {
        self.invalid.locked().get(uid) == Some(&generation)
    }

    /// Remembers that the unreadable object `uid` was reported at `generation`.
    pub fn remember_invalid(&self, uid: &str, generation: i64) {
        self.invalid.locked().insert(uid.to_owned(), generation);
    }
}

/// Gives a controller's context access to what is shared (for the retry policy and the
/// shared writers).
impl AsRef<Shared> for Shared {
    fn as_ref(&self) -> &Shared {
        self
    }
}

/// The ServiceKeyRequest controller's context: what is shared, plus the service keys snapshot
/// and port, the claim ledger, the decision and on-ramp locks and the record seal.
pub struct Context {
    /// What both controllers share.
    pub shared: Arc<Shared>,
    /// The shared service keys snapshot.
    pub keys: Arc<KeysCache>,
    /// The service keys port (for the calls that are not shared lists).
    pub api: Arc<dyn ServiceKeysApi>,
    /// The port answering connections (`isApproved`).
    pub vxcs: Arc<dyn OrderingApi>,
    /// Request UID → the connection decisions this process recorded last.
    answered: Mutex<HashMap<String, Vec<DecisionRecord>>>,
    /// What every ServiceKeyRequest holds, kept by the watch and this process's writes.
    pub ledger: Ledger,
    /// Held while a request's on-ramps and VLANs are decided and claimed.
    pub(super) decisions: tokio::sync::Mutex<()>,
    /// Held per on-ramp while its keys are searched and created.
    on_ramp_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Seals the key records the operator writes, and tells them from anyone else's.
    pub seal: RecordSeal,
}

impl std::ops::Deref for Context {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl AsRef<Shared> for Context {
    fn as_ref(&self) -> &Shared {
        &self.shared
    }
}

impl Context {
    /// The ServiceKeyRequest context over `shared` and the service keys port, trusting records
    /// sealed with `seal`.
    pub fn for_requests(
        shared: Arc<Shared>,
        keys: Arc<dyn ServiceKeysApi>,
        vxcs: Arc<dyn OrderingApi>,
        seal: RecordSeal,
    ) -> Self {
        Self {
            keys: Arc::new(KeysCache::keys(keys.clone(), shared.settings.keys_refresh)),
            api: keys,
            vxcs,
            answered: Mutex::new(HashMap::new()),
            ledger: Ledger::new(seal.clone()),
            decisions: tokio::sync::Mutex::new(()),
            on_ramp_locks: Mutex::new(HashMap::new()),
            seal,
            shared,
        }
    }

    /// Both contexts over `client` and the Megaport `ports` (tests build the requests' one
    /// like this).
    pub fn new(client: Client, ports: Ports, settings: Settings, seal: RecordSeal) -> Self {
        let vxcs: Arc<dyn OrderingApi> = ports.accounts.account(None);
        Self::for_requests(
            Arc::new(Shared::new(client, ports.products, settings)),
            ports.keys,
            vxcs,
            seal,
        )
    }

    /// The connection decisions this process last recorded on request `uid`.
    pub fn decisions_of(&self, uid: &str) -> Option<Vec<DecisionRecord>> {
        self.answered.locked().get(uid).cloned()
    }

    /// Remembers the decisions just recorded on request `uid`.
    pub fn decided(&self, uid: &str, records: &[DecisionRecord]) {
        self.answered
            .locked()
            .insert(uid.to_owned(), records.to_vec());
    }

    /// Request `uid`'s records: this process's last write, else `annotations` when sealed by
    /// this operator; `Err` (why) when the annotation is not the operator's.
    pub fn trusted_records(
        &self,
        uid: &str,
        annotations: &std::collections::BTreeMap<String, String>,
    ) -> Result<Vec<Record>, String> {
        match self.ledger.own_records(uid) {
            Some(records) => Ok(records),
            None => crate::issuance::sealed_records(annotations, uid, &self.seal),
        }
    }

    /// The lock serialising key searches and creates on one on-ramp.
    pub fn on_ramp_lock(&self, product_uid: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.on_ramp_locks
            .locked()
            .entry(product_uid.to_owned())
            .or_default()
            .clone()
    }
}

/// The SavedConfiguration controller's context: what is shared, the Megaport accounts orders
/// are placed for, the order records this process wrote last (the watch may not show them
/// yet), the per-product buy locks and the record seal.
pub struct Orders {
    /// What every controller shares.
    pub shared: Arc<Shared>,
    /// The API for the company, or acting for a managed one.
    pub accounts: Arc<dyn Accounts>,
    /// Seals the order records, and tells them from anyone else's.
    pub seal: RecordSeal,
    /// Configuration UID → the records this process last wrote on it.
    written: Mutex<HashMap<String, Vec<OrderRecord>>>,
    /// Held per existing product while a buy attaches VXCs to it.
    product_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Configurations announced as another operator's: UID → generation.
    foreign: Mutex<HashMap<String, i64>>,
}

impl std::ops::Deref for Orders {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl AsRef<Shared> for Orders {
    fn as_ref(&self) -> &Shared {
        &self.shared
    }
}

impl Orders {
    /// The configurations' context over `shared` and `accounts`, sealing with `seal`.
    pub fn new(shared: Arc<Shared>, accounts: Arc<dyn Accounts>, seal: RecordSeal) -> Self {
        Self {
            shared,
            accounts,
            seal,
            written: Mutex::new(HashMap::new()),
            product_locks: Mutex::new(HashMap::new()),
            foreign: Mutex::new(HashMap::new()),
        }
    }

    /// Whether configuration `uid` at `generation` is newly found to be another operator's
    /// (then remembered, so it is announced once per generation).
    pub fn newly_foreign(&self, uid: &str, generation: i64) -> bool {
        self.foreign.locked().insert(uid.to_owned(), generation) != Some(generation)
    }

    /// The records this process last wrote on configuration `uid`.
    pub fn written(&self, uid: &str) -> Option<Vec<OrderRecord>> {
        self.written.locked().get(uid).cloned()
    }

    /// Remembers the records just written on configuration `uid`.
    pub fn wrote(&self, uid: &str, records: &[OrderRecord]) {
        self.written
            .locked()
            .insert(uid.to_owned(), records.to_vec());
    }

    /// Forgets configuration `uid` (deleted).
    pub fn forget(&self, uid: &str) {
        self.written.locked().remove(uid);
    }

    /// The locks of `products`, to hold in this (sorted) order while buying VXCs on them.
    pub fn product_locks(
        &self,
        products: &std::collections::BTreeSet<String>,
    ) -> Vec<Arc<tokio::sync::Mutex<()>>> {
        let mut locks = self.product_locks.locked();
        products
            .iter()
            .map(|uid| locks.entry(uid.clone()).or_default().clone())
            .collect()
    }
}
