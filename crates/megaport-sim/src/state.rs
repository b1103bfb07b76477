//! The simulated world and its rules: companies, API keys and tokens, the simulated clock,
//! products (Ports, MCRs, MVEs, VXCs) with their provisioning progression, service keys, tags
//! and product actions. Pure logic, no HTTP: every operation takes the caller and the simulated
//! `now` (epoch ms) and returns data or an [`ApiError`] carrying the HTTP status to answer with.
//! Ordering (network design validate/buy) lives in [`super::orders`] as another `impl World`.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};

use super::SimulatorError;
use super::requests::{KeyCreate, KeyUpdate, ProductUpdate, TagsPut, VxcUpdate};
use super::scenario::{
    DEFAULT_CREATE_DATE, LocationSpec, ProvisioningSpec, Role, Scenario, Tag, is_uuid,
};

/// Lowest VLAN a service key or VXC end may use.
pub const VLAN_MIN: i64 = 2;
/// Highest VLAN a service key or VXC end may use.
pub const VLAN_MAX: i64 = 4093;
/// Contract terms (months) the API accepts.
pub const VALID_TERMS: [i64; 6] = [1, 12, 24, 36, 48, 60];
/// Simulated month length used for contract end dates.
pub const MONTH_MS: i64 = 30 * 24 * 3600 * 1000;

/// Provisioning status values used by the simulator.
pub mod status {
    /// Just bought.
    pub const DEPLOYABLE: &str = "DEPLOYABLE";
    /// Configured (ready).
    pub const CONFIGURED: &str = "CONFIGURED";
    /// Live (ready).
    pub const LIVE: &str = "LIVE";
    /// Cancelled at the end of the term (restorable).
    pub const CANCELLED: &str = "CANCELLED";
    /// Gone (still readable).
    pub const DECOMMISSIONED: &str = "DECOMMISSIONED";
}

/// An API error: the HTTP status and the `{message, data}` of the error envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Short summary.
    pub message: String,
    /// Detail (a string unless a fault says otherwise).
    pub data: Value,
}

impl ApiError {
    /// Any status with a message and string detail.
    pub fn new(status: u16, message: impl Into<String>, data: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            data: Value::String(data.into()),
        }
    }
    /// 400 `Validation failed` with the detail in `data`.
    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(400, "Validation failed", detail)
    }
    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, "Unauthorized", detail)
    }
    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", detail)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(404, message.clone(), message)
    }
    /// 400 for an unparseable request.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(400, "Bad Request", detail)
    }
}

/// Kinds of product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductKind {
    /// `MEGAPORT`.
    Port,
    /// `MCR2`.
    Mcr,
    /// `MVE`.
    Mve,
    /// `VXC`.
    Vxc,
}

impl ProductKind {
    /// UPPERCASE `productType` of bodies.
    pub fn api_name(self) -> &'static str {
        match self {
            ProductKind::Port => "MEGAPORT",
            ProductKind::Mcr => "MCR2",
            ProductKind::Mve => "MVE",
            ProductKind::Vxc => "VXC",
        }
    }
    /// Parses a `productType` (any case).
    pub fn parse(s: &str) -> Option<ProductKind> {
        match s.to_ascii_uppercase().as_str() {
            "MEGAPORT" => Some(ProductKind::Port),
            "MCR2" => Some(ProductKind::Mcr),
            "MVE" => Some(ProductKind::Mve),
            "VXC" => Some(ProductKind::Vxc),
            _ => None,
        }
    }
    /// Lower-case name used in URL paths (`megaport`, `mcr2`, `mve`, `vxc`).
    pub fn path_name(self) -> &'static str {
        match self {
            ProductKind::Port => "megaport",
            ProductKind::Mcr => "mcr2",
            ProductKind::Mve => "mve",
            ProductKind::Vxc => "vxc",
        }
    }
}

/// A company.
#[derive(Debug, Clone)]
pub struct Company {
    /// `companyUid`.
    pub uid: String,
    /// `companyId`.
    pub id: i64,
    /// `companyName`.
    pub name: String,
    /// Billing markets.
    pub markets: Vec<Market>,
    /// The partner that manages this company, if it is a managed account.
    pub managed_by: Option<String>,
    /// The partner's reference for it.
    pub account_ref: Option<String>,
}

/// A billing market.
#[derive(Debug, Clone)]
pub struct Market {
    /// Id.
    pub id: i64,
    /// Country name (as locations spell it).
    pub country: String,
    /// Currency.
    pub currency: String,
    /// Megaport entity.
    pub supplier_name: String,
}

/// API key (client credentials).
#[derive(Debug, Clone)]
pub struct ApiClient {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub secret: String,
    /// Company.
    pub company_uid: String,
    /// Role.
    pub role: Role,
    /// Token lifetime (s).
    pub token_lifetime_secs: u64,
}

/// An issued access token.
#[derive(Debug, Clone)]
pub struct Token {
    /// Client that obtained it.
    pub client_id: String,
    /// Expiry (simulated epoch ms).
    pub expires_at: i64,
}

/// The authenticated caller of an API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Client id of the API key.
    pub client_id: String,
    /// Company of the API key.
    pub company_uid: String,
    /// Role of the API key.
    pub role: Role,
    /// The partner the caller acts from, when it acts for a managed company (`X-Call-Context`):
    /// `company_uid` is then the managed company's.
    pub partner_uid: Option<String>,
}

/// A VXC's approval in progress (rendered as `vxcApproval`).
#[derive(Debug, Clone)]
pub struct Approval {
    /// Uid.
    pub uid: String,
    /// `PENDING_EXTERNAL`.
    pub status: String,
    /// `NEW`.
    pub kind: String,
    /// Message.
    pub message: String,
}

/// One end of a VXC.
#[derive(Debug, Clone)]
pub struct VxcEnd {
    /// Product.
    pub product_uid: String,
    /// VLAN (None = untagged).
    pub vlan: Option<i64>,
    /// Inner VLAN.
    pub inner_vlan: Option<i64>,
}

/// VXC-specific data.
#[derive(Debug, Clone)]
pub struct VxcInfo {
    /// A end (buyer side).
    pub a: VxcEnd,
    /// B end.
    pub b: VxcEnd,
    /// Pending approval, if any.
    pub approval: Option<Approval>,
    /// Shut down.
    pub shutdown: bool,
}

/// A product: Port, MCR, MVE or VXC.
#[derive(Debug, Clone)]
pub struct Product {
    /// `productUid`.
    pub uid: String,
    /// `productId`.
    pub id: i64,
    /// `productName`.
    pub name: String,
    /// Kind.
    pub kind: ProductKind,
    /// Owner (for VXCs: the buyer).
    pub company_uid: String,
    /// `provisioningStatus`.
    pub status: String,
    /// `portSpeed` (ports, MCRs), `rateLimit` (VXCs), 0 for MVEs.
    pub speed: u32,
    /// `maxVxcSpeed`.
    pub max_vxc_speed: Option<u32>,
    /// `locationId` (None for VXCs).
    pub location_id: Option<i64>,
    /// `diversityZone`.
    pub diversity_zone: Option<String>,
    /// `vxcpermitted`.
    pub vxc_permitted: bool,
    /// `vxcAutoApproval`.
    pub vxc_auto_approval: bool,
    /// `marketplaceVisibility`.
    pub marketplace_visibility: bool,
    /// `costCentre`.
    pub cost_centre: String,
    /// `contractTermMonths`.
    pub term: u32,
    /// `createDate`.
    pub create_date: i64,
    /// `liveDate`.
    pub live_date: Option<i64>,
    /// `terminateDate`.
    pub terminate_date: Option<i64>,
    /// `contractStartDate`.
    pub contract_start: Option<i64>,
    /// `contractEndDate`.
    pub contract_end: Option<i64>,
    /// Resource tags.
    pub tags: Vec<Tag>,
    /// Status before CANCEL (restored by UN_CANCEL).
    pub previous_status: Option<String>,
    /// Anchor of the DEPLOYABLE → CONFIGURED → LIVE progression (None = not progressing).
    pub provisioning_since: Option<i64>,
    /// `aggregationId` of LAG members.
    pub aggregation_id: Option<i64>,
    /// `lagPrimary`.
    pub lag_primary: bool,
    /// MCR ASN.
    pub mcr_asn: Option<u32>,
    /// MVE size.
    pub mve_size: Option<String>,
    /// MVE vendor.
    pub mve_vendor: Option<String>,
    /// VXC data.
    pub vxc: Option<VxcInfo>,
    /// Locked by its owner (`POST /v2/product/{uid}/lock`): it refuses modification.
    pub locked: bool,
}

impl Product {
    /// A product with nothing set but who and what it is: DEPLOYABLE, no speed, location, zone,
    /// dates, tags or VXC data; VXCs permitted. Callers set the rest with struct update syntax.
    pub fn blank(
        uid: String,
        id: i64,
        name: String,
        kind: ProductKind,
        company_uid: String,
    ) -> Self {
        Self {
            uid,
            id,
            name,
            kind,
            company_uid,
            status: status::DEPLOYABLE.into(),
            speed: 0,
            max_vxc_speed: None,
            location_id: None,
            diversity_zone: None,
            vxc_permitted: true,
            vxc_auto_approval: false,
            marketplace_visibility: false,
            cost_centre: String::new(),
            term: 1,
            create_date: 0,
            live_date: None,
            terminate_date: None,
            contract_start: None,
            contract_end: None,
            tags: Vec::new(),
            previous_status: None,
            provisioning_since: None,
            aggregation_id: None,
            lag_primary: false,
            mcr_asn: None,
            mve_size: None,
            mve_vendor: None,
            vxc: None,
            locked: false,
        }
    }

    /// The fastest VXC this product accepts: the lower of `maxVxcSpeed` and the port speed
    /// (MVEs have no speed: their `maxVxcSpeed`, else 10 Gbps).
    pub fn vxc_speed_limit(&self) -> u32 {
        match (self.max_vxc_speed, self.speed) {
            (Some(m), 0) => m,
            (Some(m), s) => m.min(s),
            (None, 0) => 10_000,
            (None, s) => s,
        }
    }
    /// Whether the product is still in service (not cancelled or decommissioned).
    pub fn in_service(&self) -> bool {
        !matches!(
            self.status.as_str(),
            status::CANCELLED | status::DECOMMISSIONED | "DECOMMISSIONING"
        )
    }
    /// Whether the product still occupies resources (VLANs): everything but DECOMMISSIONED.
    pub fn holds_resources(&self) -> bool {
        self.status != status::DECOMMISSIONED
    }
}

/// A service key.
#[derive(Debug, Clone)]
pub struct ServiceKey {
    /// The key (UUID v4).
    pub key: String,
    /// Owner company.
    pub company_uid: String,
    /// Owner's product.
    pub product_uid: String,
    /// Description.
    pub description: Option<String>,
    /// Fixed B-end VLAN.
    pub vlan: Option<i64>,
    /// Max VXC speed.
    pub max_speed: u32,
    /// Pre-approved.
    pub pre_approved: Option<bool>,
    /// Single-use.
    pub single_use: bool,
    /// Last use (epoch ms).
    pub last_used: Option<i64>,
    /// Owner's on/off switch.
    pub active: bool,
    /// `validFor.start`.
    pub valid_from: i64,
    /// `validFor.end`.
    pub valid_until: Option<i64>,
    /// Whether a validity window was ever given (create, update or scenario): a key created
    /// without one lists `validFor: null` and is valid from its creation on (docs/simulator.md
    /// says what this rests on).
    pub window_given: bool,
    /// `createDate`.
    pub create_date: i64,
    /// `promoCode`.
    pub promo_code: Option<String>,
    /// A single-use key that has been used.
    pub consumed: bool,
}

/// Checks a VLAN is within 2..=4093.
pub fn check_vlan(vlan: i64) -> Result<i64, ApiError> {
    if (VLAN_MIN..=VLAN_MAX).contains(&vlan) {
        Ok(vlan)
    } else {
        Err(ApiError::validation(format!(
            "VLAN {vlan} is out of range: VLANs must be between {VLAN_MIN} and {VLAN_MAX}"
        )))
    }
}

/// Checks a key's / VXC's speed is positive and within the product's limit.
pub fn check_speed(speed: i64, limit: u32, what: &str) -> Result<u32, ApiError> {
    if speed <= 0 {
        return Err(ApiError::validation(format!(
            "{what} must be greater than 0 Mbps"
        )));
    }
    if speed > i64::from(limit) {
        return Err(ApiError::validation(format!(
            "{what} {speed} Mbps exceeds the product's maximum of {limit} Mbps"
        )));
    }
    u32::try_from(speed).map_err(|_| ApiError::validation(format!("{what} is too large")))
}

/// Checks a contract term.
pub fn check_term(term: i64) -> Result<u32, ApiError> {
    if VALID_TERMS.contains(&term) {
        Ok(term as u32)
    } else {
        Err(ApiError::validation(format!(
            "Invalid term {term}: terms are 1, 12, 24, 36, 48 or 60 months"
        )))
    }
}

/// 403 unless the role may write.
pub fn require_write(caller: &Caller) -> Result<(), ApiError> {
    match caller.role {
        Role::CompanyAdmin => Ok(()),
        Role::ReadOnly => Err(ApiError::forbidden(
            "This API key has the Read Only role and may not make changes".to_string(),
        )),
    }
}

/// Whether a key is expired at `now` (past its `validFor.end`).
pub fn key_expired(k: &ServiceKey, now: i64) -> bool {
    k.valid_until.is_some_and(|end| now > end)
}

/// Whether a key can be used at `now`: active, not consumed, within its window.
pub fn key_valid(k: &ServiceKey, now: i64) -> bool {
    key_usable(k, now).is_ok()
}

/// Why a key cannot be used at `now`, if it cannot.
pub fn key_usable(k: &ServiceKey, now: i64) -> Result<(), ApiError> {
    if !k.active {
        return Err(ApiError::validation("Service key is not active"));
    }
    if k.consumed {
        return Err(ApiError::validation("Service key has already been used"));
    }
    if now < k.valid_from {
        return Err(ApiError::validation("Service key is not valid yet"));
    }
    if key_expired(k, now) {
        return Err(ApiError::validation("Service key has expired"));
    }
    Ok(())
}

/// Real wall-clock time in epoch ms.
pub fn real_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The whole simulated world.
#[derive(Debug, Clone)]
pub struct World {
    /// Companies.
    pub companies: Vec<Company>,
    /// API keys.
    pub clients: Vec<ApiClient>,
    /// Issued tokens by token string.
    pub tokens: HashMap<String, Token>,
    /// Locations.
    pub locations: Vec<LocationSpec>,
    /// Products in creation order.
    pub products: Vec<Product>,
    /// Service keys in creation order.
    pub keys: Vec<ServiceKey>,
    /// Simulated now = real now + this.
    pub clock_offset_ms: i64,
    /// Provisioning delays.
    pub delays: ProvisioningSpec,
    /// Next `productId`.
    pub next_id: i64,
    /// Next order id.
    pub next_order_id: i64,
    /// Product lists that still show a product's `diversityZone` empty (a read the real API
    /// gives now and then), by product uid.
    pub empty_zone_reads: HashMap<String, u32>,
    /// Megaport's limit on updates of one service.
    pub service_updates: crate::limits::ServiceUpdates,
}

impl World {
    /// Builds the world a scenario describes.
    pub fn from_scenario(s: &Scenario) -> Result<World, SimulatorError> {
        let mut market_id = 900;
        let companies = s
            .companies
            .iter()
            .map(|c| Company {
                uid: c.uid.clone(),
                id: c.id,
                name: c.name.clone(),
                managed_by: c.managed_by.clone(),
                account_ref: c.account_ref.clone(),
                markets: c
                    .markets
                    .iter()
                    .map(|m| {
                        market_id += 1;
                        Market {
                            id: market_id,
                            country: m.country.clone(),
                            currency: m.currency.clone(),
                            supplier_name: m
                                .supplier_name
                                .clone()
                                .unwrap_or_else(|| format!("Megaport ({})", m.country)),
                        }
                    })
                    .collect(),
            })
            .collect();
        let clients = s
            .companies
            .iter()
            .flat_map(|c| {
                c.api_keys.iter().map(|k| ApiClient {
                    client_id: k.client_id.clone(),
                    secret: k.client_secret.clone(),
                    company_uid: c.uid.clone(),
                    role: k.role,
                    token_lifetime_secs: k.token_lifetime_seconds,
                })
            })
            .collect();
        let mut w = World {
            companies,
            clients,
            tokens: HashMap::new(),
            locations: s.locations.clone(),
            products: Vec::new(),
            keys: Vec::new(),
            clock_offset_ms: 0,
            delays: s.settings.provisioning,
            service_updates: crate::limits::ServiceUpdates::new(
                s.settings.service_updates.as_ref(),
            ),
            next_id: 0,
            next_order_id: 50_001,
            empty_zone_reads: HashMap::new(),
        };
        let max_id = s
            .products
            .iter()
            .filter_map(|p| p.id)
            .chain(s.vxcs.iter().filter_map(|v| v.id))
            .max();
        w.next_id = max_id.unwrap_or(100_000) + 1;
        for p in &s.products {
            let kind = ProductKind::parse(&p.product_type).ok_or_else(|| {
                SimulatorError::ScenarioInvalid(format!("unknown type {}", p.product_type))
            })?;
            let id = match p.id {
                Some(id) => id,
                None => w.take_id(),
            };
            let create = p.create_date.unwrap_or(DEFAULT_CREATE_DATE);
            let live = matches!(
                p.status.as_str(),
                status::LIVE | status::CANCELLED | status::DECOMMISSIONED
            )
            .then_some(create + 86_400_000);
            let max_vxc_speed = p.max_vxc_speed.or(match kind {
                ProductKind::Mcr => p.speed,
                ProductKind::Mve => Some(mve_speed(p.mve_size.as_deref())),
                _ => None,
            });
            w.products.push(Product {
                status: p.status.clone(),
                speed: p.speed.unwrap_or(0),
                max_vxc_speed,
                location_id: Some(p.location_id),
                diversity_zone: p.diversity_zone.clone(),
                vxc_permitted: p.vxc_permitted,
                vxc_auto_approval: p.vxc_auto_approval,
                marketplace_visibility: p.marketplace_visibility,
                cost_centre: p.cost_centre.clone(),
                term: p.term,
                create_date: create,
                live_date: live,
                terminate_date: (p.status == status::DECOMMISSIONED)
                    .then_some(create + 200 * 86_400_000),
                contract_start: live,
                contract_end: live.map(|l| l + i64::from(p.term) * MONTH_MS),
                tags: p.tags.clone(),
                mcr_asn: match kind {
                    ProductKind::Mcr => Some(p.mcr_asn.unwrap_or(133_937)),
                    _ => None,
                },
                mve_size: p.mve_size.clone(),
                mve_vendor: p.mve_vendor.clone(),
                ..Product::blank(p.uid.clone(), id, p.name.clone(), kind, p.company.clone())
            });
        }
        for v in &s.vxcs {
            let id = match v.id {
                Some(id) => id,
                None => w.take_id(),
            };
            let a_owner = w
                .product(&v.a_end.product_uid)
                .map(|p| p.company_uid.clone());
            let company_uid = v.company.clone().or(a_owner).unwrap_or_default();
            let create = v.create_date.unwrap_or(DEFAULT_CREATE_DATE);
            let live = (v.status != status::DEPLOYABLE).then_some(create + 3_600_000);
            let approval = v.pending_approval.then(|| Approval {
                uid: uuid::Uuid::new_v4().to_string(),
                status: "PENDING_EXTERNAL".into(),
                kind: "NEW".into(),
                message: "Awaiting approval by the B-End owner".into(),
            });
            w.products.push(Product {
                status: v.status.clone(),
                speed: v.rate_limit,
                term: v.term,
                create_date: create,
                live_date: live,
                terminate_date: (v.status == status::DECOMMISSIONED)
                    .then_some(create + 90 * 86_400_000),
                contract_start: live,
                contract_end: live.map(|l| l + i64::from(v.term) * MONTH_MS),
                tags: v.tags.clone(),
                vxc: Some(VxcInfo {
                    a: VxcEnd {
                        product_uid: v.a_end.product_uid.clone(),
                        vlan: v.a_end.vlan.map(i64::from),
                        inner_vlan: None,
                    },
                    b: VxcEnd {
                        product_uid: v.b_end.product_uid.clone(),
                        vlan: v.b_end.vlan.map(i64::from),
                        inner_vlan: None,
                    },
                    approval,
                    shutdown: false,
                }),
                ..Product::blank(
                    v.uid.clone(),
                    id,
                    v.name.clone(),
                    ProductKind::Vxc,
                    company_uid,
                )
            });
        }
        for k in &s.service_keys {
            let product = w.product(&k.product_uid).ok_or_else(|| {
                SimulatorError::ScenarioInvalid(format!("unknown product {}", k.product_uid))
            })?;
            let create = k.create_date.unwrap_or(DEFAULT_CREATE_DATE);
            w.keys.push(ServiceKey {
                key: k.key.clone(),
                company_uid: product.company_uid.clone(),
                product_uid: k.product_uid.clone(),
                description: k.description.clone(),
                vlan: k.vlan.map(i64::from),
                max_speed: k.max_speed.unwrap_or_else(|| product.vxc_speed_limit()),
                pre_approved: k.pre_approved,
                single_use: k.single_use,
                last_used: k.last_used,
                active: k.active,
                valid_from: k.valid_from.unwrap_or(create),
                valid_until: k.valid_until,
                window_given: k.valid_from.is_some() || k.valid_until.is_some(),
                create_date: create,
                promo_code: None,
                consumed: k.consumed,
            });
        }
        Ok(w)
    }

    /// Allocates a `productId`.
    pub fn take_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    // ---------------------------------------------------------------- clock

    /// Simulated now (epoch ms).
    pub fn now(&self) -> i64 {
        real_now_ms() + self.clock_offset_ms
    }

    /// Moves the simulated clock forward; returns the new now.
    pub fn advance_clock(&mut self, ms: i64) -> i64 {
        self.clock_offset_ms += ms.max(0);
        self.now()
    }

    /// Applies time-driven changes (provisioning progression) up to `now`.
    pub fn tick(&mut self, now: i64) {
        let d = self.delays;
        for p in &mut self.products {
            let Some(since) = p.provisioning_since else {
                continue;
            };
            if p.vxc.as_ref().is_some_and(|v| v.approval.is_some()) {
                continue;
            }
            let elapsed = now - since;
            let configured =
                i64::try_from(d.configured_after_seconds).unwrap_or(i64::MAX / 4) * 1000;
            let live = i64::try_from(d.live_after_seconds).unwrap_or(i64::MAX / 4) * 1000;
            match p.status.as_str() {
                status::DEPLOYABLE | status::CONFIGURED => {
                    if elapsed >= live {
                        let at = since + live;
                        p.status = status::LIVE.into();
                        p.live_date = Some(at);
                        p.contract_start = Some(at);
                        p.contract_end = Some(at + i64::from(p.term) * MONTH_MS);
                        p.provisioning_since = None;
                    } else if elapsed >= configured {
                        p.status = status::CONFIGURED.into();
                    }
                }
                // Cancelled while provisioning: keep the anchor so UN_CANCEL resumes it.
                status::CANCELLED => {}
                _ => p.provisioning_since = None,
            }
        }
    }

    // ---------------------------------------------------------------- lookups

    /// Company by uid.
    pub fn company(&self, uid: &str) -> Option<&Company> {
        self.companies.iter().find(|c| c.uid == uid)
    }

    /// Product by uid.
    pub fn product(&self, uid: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.uid == uid)
    }

    fn product_mut(&mut self, uid: &str) -> Option<&mut Product> {
        self.products.iter_mut().find(|p| p.uid == uid)
    }

    /// Location by id.
    pub fn location(&self, id: i64) -> Option<&LocationSpec> {
        self.locations.iter().find(|l| l.id == id)
    }

    /// Location of a product (for VXCs: of its A end).
    pub fn product_location(&self, p: &Product) -> Option<&LocationSpec> {
        match (&p.vxc, p.location_id) {
            (_, Some(id)) => self.location(id),
            (Some(v), None) => self
                .product(&v.a.product_uid)
                .and_then(|a| self.product_location(a)),
            (None, None) => None,
        }
    }

    /// Whether `caller` may read a product: its own, or a VXC touching one of its products.
    pub fn can_read(&self, caller: &Caller, p: &Product) -> bool {
        if p.company_uid == caller.company_uid {
            return true;
        }
        match &p.vxc {
            Some(v) => [&v.a, &v.b].iter().any(|end| {
                self.product(&end.product_uid)
                    .is_some_and(|e| e.company_uid == caller.company_uid)
            }),
            None => false,
        }
    }

    /// A product the caller may read, or 404.
    pub fn readable(&self, caller: &Caller, uid: &str) -> Result<&Product, ApiError> {
        match self.product(uid) {
            Some(p) if self.can_read(caller, p) => Ok(p),
            _ => Err(ApiError::not_found(format!(
                "Could not find a service with UID {uid}"
            ))),
        }
    }

    /// Top-level products (Ports, MCRs, MVEs) of the caller's company, optionally by status.
    pub fn list_products(&self, caller: &Caller, statuses: &[String]) -> Vec<&Product> {
        self.products
            .iter()
            .filter(|p| p.kind != ProductKind::Vxc && p.company_uid == caller.company_uid)
            .filter(|p| {
                statuses.is_empty() || statuses.iter().any(|s| s.eq_ignore_ascii_case(&p.status))
            })
            .collect()
    }

    /// VXCs with an end on `product_uid` (any status).
    pub fn vxcs_on<'a>(&'a self, product_uid: &'a str) -> impl Iterator<Item = &'a Product> + 'a {
        self.products.iter().filter(move |p| {
            p.vxc
                .as_ref()
                .is_some_and(|v| v.a.product_uid == product_uid || v.b.product_uid == product_uid)
        })
    }

    /// The VXC holding `vlan` on `product_uid` (ignoring `except`), if any.
    pub fn vlan_holder<'a>(
        &'a self,
        product_uid: &'a str,
        vlan: i64,
        except: Option<&str>,
    ) -> Option<&'a Product> {
        self.vxcs_on(product_uid)
            .filter(|p| p.holds_resources() && Some(p.uid.as_str()) != except)
            .find(|p| {
                p.vxc.as_ref().is_some_and(|v| {
                    (v.a.product_uid == product_uid && v.a.vlan == Some(vlan))
                        || (v.b.product_uid == product_uid && v.b.vlan == Some(vlan))
                })
            })
    }

    /// The lowest free VLAN on a product, skipping `claimed` ones.
    pub fn auto_vlan(&self, product_uid: &str, claimed: &[(String, i64)]) -> Result<i64, ApiError> {
        (VLAN_MIN..=VLAN_MAX)
            .find(|v| {
                self.vlan_holder(product_uid, *v, None).is_none()
                    && !claimed.iter().any(|(u, c)| u == product_uid && c == v)
            })
            .ok_or_else(|| {
                ApiError::validation(format!("No free VLAN left on product {product_uid}"))
            })
    }

    /// 400 `Missing markets: <Country>` unless the company has a market for the location.
    pub fn check_market(
        &self,
        company_uid: &str,
        location: &LocationSpec,
    ) -> Result<&Market, ApiError> {
        self.company(company_uid)
            .and_then(|c| c.markets.iter().find(|m| m.country == location.country))
            .ok_or_else(|| ApiError::validation(format!("Missing markets: {}", location.country)))
    }

    // ---------------------------------------------------------------- auth

    /// Whether `client_id` names an API key of the scenario (the call log records only those,
    /// so a secret pasted into the id field never lands in it).
    pub fn is_client(&self, client_id: &str) -> bool {
        self.clients.iter().any(|c| c.client_id == client_id)
    }

    /// The caller an API key of the scenario acts as (unit tests of the rules).
    #[cfg(test)]
    pub(crate) fn test_caller(&self, client_id: &str) -> Caller {
        let c = self
            .clients
            .iter()
            .find(|c| c.client_id == client_id)
            .expect("scenario client");
        Caller {
            client_id: client_id.into(),
            company_uid: c.company_uid.clone(),
            role: c.role,
            partner_uid: None,
        }
    }

    /// Client-credentials grant: a token and its lifetime (s), or 401 `invalid_client`.
    pub fn issue_token(
        &mut self,
        client_id: &str,
        secret: &str,
        now: i64,
    ) -> Option<(String, u64)> {
        let client = self
            .clients
            .iter()
            .find(|c| c.client_id == client_id && c.secret == secret)?;
        let lifetime = client.token_lifetime_secs;
        let scope = match client.role {
            Role::CompanyAdmin => "companyAdmin",
            Role::ReadOnly => "readOnly",
        };
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"RS256","kid":"megaport-simulator","typ":"JWT"}"#);
        let exp = now / 1000 + i64::try_from(lifetime).unwrap_or(0);
        let payload = json!({
            "sub": client_id, "client_id": client_id, "token_use": "access",
            "scope": format!("https://api.megaport.com/{scope}"), "iss": "megaport-simulator",
            "iat": now / 1000, "auth_time": now / 1000, "exp": exp,
            "jti": uuid::Uuid::new_v4().to_string(), "version": 2,
        });
        let signature = b64.encode(
            [
                uuid::Uuid::new_v4().into_bytes(),
                uuid::Uuid::new_v4().into_bytes(),
            ]
            .concat(),
        );
        let token = format!("{header}.{}.{signature}", b64.encode(payload.to_string()));
        let expires_at = now + i64::try_from(lifetime).unwrap_or(0).saturating_mul(1000);
        self.tokens.insert(
            token.clone(),
            Token {
                client_id: client_id.to_string(),
                expires_at,
            },
        );
        Some((token, lifetime))
    }

    /// The caller a bearer token belongs to, or 401.
    pub fn authenticate(&self, token: Option<&str>, now: i64) -> Result<Caller, ApiError> {
        let token = token.ok_or_else(|| ApiError::unauthorized("Missing bearer token"))?;
        let t = self
            .tokens
            .get(token)
            .ok_or_else(|| ApiError::unauthorized("Invalid or revoked token"))?;
        if now >= t.expires_at {
            return Err(ApiError::unauthorized("Token has expired"));
        }
        let client = self
            .clients
            .iter()
            .find(|c| c.client_id == t.client_id)
            .ok_or_else(|| ApiError::unauthorized("API key no longer exists"))?;
        Ok(Caller {
            client_id: client.client_id.clone(),
            company_uid: client.company_uid.clone(),
            role: client.role,
            partner_uid: None,
        })
    }

    /// `caller` acting for `company_uid` (`X-Call-Context`): allowed only for a company the
    /// caller's company manages, else 403.
    pub fn act_for(&self, caller: Caller, company_uid: &str) -> Result<Caller, ApiError> {
        let managed = self
            .company(company_uid)
            .is_some_and(|c| c.managed_by.as_deref() == Some(caller.company_uid.as_str()));
        if !managed {
            return Err(ApiError::forbidden(format!(
                "Company {company_uid} is not a managed account of your company: X-Call-Context refused"
            )));
        }
        Ok(Caller {
            partner_uid: Some(caller.company_uid.clone()),
            company_uid: company_uid.to_owned(),
            ..caller
        })
    }

    /// The companies `partner_uid` manages.
    pub fn managed_companies(&self, partner_uid: &str) -> Vec<&Company> {
        self.companies
            .iter()
            .filter(|c| c.managed_by.as_deref() == Some(partner_uid))
            .collect()
    }

    /// Client id a token was issued to (even if expired), for the call log.
    pub fn token_client(&self, token: &str) -> Option<&str> {
        self.tokens.get(token).map(|t| t.client_id.as_str())
    }

    // ---------------------------------------------------------------- service keys

    fn key_product(
        &self,
        caller: &Caller,
        uid: Option<&str>,
        id: Option<i64>,
    ) -> Result<&Product, ApiError> {
        let p = match (uid, id) {
            (Some(_), Some(_)) => {
                return Err(ApiError::validation(
                    "Provide either productUid or productId, not both",
                ));
            }
            (None, None) => {
                return Err(ApiError::validation("productUid or productId is required"));
            }
            (Some(uid), None) => self.product(uid),
            (None, Some(id)) => self.products.iter().find(|p| p.id == id),
        };
        let missing = || {
            let what = uid.map_or_else(|| id.unwrap_or_default().to_string(), str::to_string);
            ApiError::new(
                400,
                format!("Could not find a service with UID {what}"),
                format!("Could not find a service with UID {what}"),
            )
        };
        let p = p.ok_or_else(missing)?;
        if p.company_uid != caller.company_uid {
            return Err(missing());
        }
        if p.kind == ProductKind::Vxc {
            return Err(ApiError::validation(
                "Service keys can only be created for a Port, MCR or MVE",
            ));
        }
        if !p.in_service() {
            return Err(ApiError::validation(format!(
                "Product {} is {}",
                p.uid, p.status
            )));
        }
        Ok(p)
    }

    /// Creates a service key; returns the new key.
    pub fn create_key(
        &mut self,
        caller: &Caller,
        req: KeyCreate,
        now: i64,
    ) -> Result<String, ApiError> {
        require_write(caller)?;
        let p = self.key_product(caller, req.product_uid.as_deref(), req.product_id)?;
        let limit = p.vxc_speed_limit();
        let product_uid = p.uid.clone();
        let max_speed = match req.max_speed {
            Some(s) => check_speed(s, limit, "maxSpeed")?,
            None => limit,
        };
        let single_use = req.single_use.unwrap_or(false);
        let vlan = match req.vlan {
            None | Some(0) => None,
            Some(v) => Some(check_vlan(v)?),
        };
        if single_use && vlan.is_none() {
            return Err(ApiError::validation(
                "A VLAN is required for single-use service keys",
            ));
        }
        let (valid_from, valid_until) = window(req.valid_for.as_ref(), now, None)?;
        let key = uuid::Uuid::new_v4().to_string();
        self.keys.push(ServiceKey {
            key: key.clone(),
            company_uid: caller.company_uid.clone(),
            product_uid,
            description: req.description,
            vlan: if single_use { vlan } else { None },
            max_speed,
            pre_approved: req.pre_approved,
            single_use,
            last_used: None,
            active: req.active.unwrap_or(true),
            valid_from,
            valid_until,
            window_given: req.valid_for.is_some(),
            create_date: now,
            promo_code: None,
            consumed: false,
        });
        Ok(key)
    }

    /// Updates a key with the real API's reset semantics; returns the key.
    pub fn update_key(
        &mut self,
        caller: &Caller,
        req: KeyUpdate,
        now: i64,
    ) -> Result<String, ApiError> {
        require_write(caller)?;
        let key = req
            .key
            .clone()
            .ok_or_else(|| ApiError::validation("key is required"))?;
        let idx = self
            .keys
            .iter()
            .position(|k| k.key == key)
            .ok_or_else(|| ApiError::not_found("Could not find the service key"))?;
        if self.keys[idx].company_uid != caller.company_uid {
            return Err(ApiError::forbidden(
                "The service key belongs to another company",
            ));
        }
        let product_uid = if req.product_uid.is_some() || req.product_id.is_some() {
            // megaportgo sends both only when told to; prefer the uid.
            let id = if req.product_uid.is_some() {
                None
            } else {
                req.product_id
            };
            self.key_product(caller, req.product_uid.as_deref(), id)?
                .uid
                .clone()
        } else {
            self.keys[idx].product_uid.clone()
        };
        let limit = self
            .product(&product_uid)
            .map_or(10_000, Product::vxc_speed_limit);
        let max_speed = match req.max_speed {
            Some(s) => check_speed(s, limit, "maxSpeed")?,
            None => limit,
        };
        let k = &self.keys[idx];
        let single_use = req.single_use.unwrap_or(k.single_use);
        let vlan = match (single_use, req.vlan) {
            (false, _) | (true, None | Some(0)) => None,
            (true, Some(v)) => Some(check_vlan(v)?),
        };
        let (valid_from, valid_until) = match &req.valid_for {
            Some(vf) => window(Some(vf), now, Some(k.valid_from))?,
            None => (k.valid_from, k.valid_until),
        };
        let k = &mut self.keys[idx];
        k.product_uid = product_uid;
        k.single_use = single_use;
        k.active = req.active.unwrap_or(k.active);
        k.max_speed = max_speed;
        k.vlan = vlan;
        k.description = req.description;
        k.pre_approved = req.pre_approved;
        k.valid_from = valid_from;
        k.valid_until = valid_until;
        k.window_given |= req.valid_for.is_some();
        Ok(key)
    }

    /// Keys of the caller's company, optionally of one product (uid or numeric id).
    pub fn list_keys(&self, caller: &Caller, product: Option<&str>) -> Vec<&ServiceKey> {
        let product_uid = product.map(|p| {
            self.products
                .iter()
                .find(|x| x.uid == p || x.id.to_string() == p)
                .map_or_else(|| p.to_string(), |x| x.uid.clone())
        });
        self.keys
            .iter()
            .filter(|k| k.company_uid == caller.company_uid)
            .filter(|k| product_uid.as_ref().is_none_or(|u| &k.product_uid == u))
            .collect()
    }

    /// Looks a key up by full value or by a prefix of at least 8 characters (any company).
    pub fn find_key(&self, key: &str) -> Result<&ServiceKey, ApiError> {
        let shown: String = key.chars().take(8).collect();
        let not_found = || ApiError::not_found(format!("Could not find service key [{shown}]"));
        if let Some(k) = self.keys.iter().find(|k| k.key == key) {
            return Ok(k);
        }
        if key.len() < 8 {
            return Err(not_found());
        }
        let mut matches = self.keys.iter().filter(|k| k.key.starts_with(key));
        match (matches.next(), matches.next()) {
            (Some(k), None) => Ok(k),
            (Some(_), Some(_)) => Err(ApiError::validation(format!(
                "Service key prefix [{shown}] is ambiguous"
            ))),
            (None, _) => Err(not_found()),
        }
    }

    // ---------------------------------------------------------------- products

    fn owned_mut(&mut self, caller: &Caller, uid: &str) -> Result<&mut Product, ApiError> {
        let readable = self.product(uid).is_some_and(|p| self.can_read(caller, p));
        let p = self.product_mut(uid).filter(|_| readable);
        let p = p.ok_or_else(|| {
            ApiError::not_found(format!("Could not find a service with UID {uid}"))
        })?;
        Ok(p)
    }

    /// Locks or unlocks one of the caller's Ports, MCRs or MVEs.
    pub fn set_locked(&mut self, caller: &Caller, uid: &str, locked: bool) -> Result<(), ApiError> {
        require_write(caller)?;
        let p = self.owned_mut(caller, uid)?;
        if p.kind == ProductKind::Vxc {
            return Err(ApiError::bad_request(
                "only Ports, MCRs and MVEs can be locked",
            ));
        }
        p.locked = locked;
        Ok(())
    }

    /// `PUT /v2/product/{type}/{uid}`: rename, cost centre, marketplace visibility, term.
    pub fn modify_product(
        &mut self,
        caller: &Caller,
        path_type: &str,
        uid: &str,
        req: ProductUpdate,
    ) -> Result<(), ApiError> {
        require_write(caller)?;
        let p = self.owned_mut(caller, uid)?;
        if p.locked {
            return Err(ApiError::bad_request(format!(
                "Service {uid} is locked and cannot be modified: unlock it first"
            )));
        }
        if p.kind == ProductKind::Vxc || p.kind.path_name() != path_type {
            return Err(ApiError::not_found(format!(
                "Could not find a {path_type} service with UID {uid}"
            )));
        }
        if p.company_uid != caller.company_uid {
            return Err(ApiError::forbidden(
                "Only the owner may modify this product",
            ));
        }
        if !p.in_service() {
            return Err(ApiError::validation(format!(
                "Product {uid} is {}",
                p.status
            )));
        }
        if let Some(name) = &req.name
            && name.trim().is_empty()
        {
            return Err(ApiError::validation("name must not be empty"));
        }
        if let Some(cc) = &req.cost_centre
            && cc.chars().count() > 255
        {
            return Err(ApiError::validation(
                "costCentre must be at most 255 characters",
            ));
        }
        let term = req.term.map(check_term).transpose()?;
        if let Some(name) = req.name {
            p.name = name;
        }
        if let Some(cc) = req.cost_centre {
            p.cost_centre = cc;
        }
        if let Some(v) = req.marketplace_visibility {
            p.marketplace_visibility = v;
        }
        if let Some(t) = term {
            p.term = t;
        }
        Ok(())
    }

    /// `PUT /v3/product/vxc/{uid}`: approval by the B-end owner, or changes by the buyer.
    pub fn modify_vxc(
        &mut self,
        caller: &Caller,
        uid: &str,
        req: VxcUpdate,
        now: i64,
    ) -> Result<(), ApiError> {
        require_write(caller)?;
        let p = self.readable(caller, uid)?;
        let v = p
            .vxc
            .clone()
            .ok_or_else(|| ApiError::not_found(format!("Could not find a VXC with UID {uid}")))?;
        let is_buyer = p.company_uid == caller.company_uid;
        let b_owner = self
            .product(&v.b.product_uid)
            .map(|b| b.company_uid.clone())
            .unwrap_or_default();
        let is_b_owner = b_owner == caller.company_uid;
        if !p.in_service() {
            return Err(ApiError::validation(format!("VXC {uid} is {}", p.status)));
        }
        let limit = [&v.a, &v.b]
            .iter()
            .filter_map(|e| self.product(&e.product_uid).map(Product::vxc_speed_limit))
            .min()
            .unwrap_or(10_000);
        let buyer_fields = req.name.is_some()
            || req.rate_limit.is_some()
            || req.cost_centre.is_some()
            || req.shutdown.is_some()
            || req.a_end_vlan.is_some()
            || req.a_end_inner_vlan.is_some()
            || req.term.is_some();
        if buyer_fields && !is_buyer {
            return Err(ApiError::forbidden("Only the VXC's owner may modify it"));
        }
        if (req.b_end_vlan.is_some() || req.b_end_inner_vlan.is_some()) && !is_buyer && !is_b_owner
        {
            return Err(ApiError::forbidden("Only the VXC's owner may modify it"));
        }
        if req.is_approved.is_some() {
            if !is_b_owner {
                return Err(ApiError::forbidden(
                    "Only the B-End owner may approve or reject this VXC",
                ));
            }
            if v.approval.is_none() {
                return Err(ApiError::validation("The VXC has no pending approval"));
            }
        }
        let rate = req
            .rate_limit
            .map(|r| check_speed(r, limit, "rateLimit"))
            .transpose()?;
        let term = req.term.map(check_term).transpose()?;
        let vlan_for =
            |value: Option<i64>, end: &VxcEnd| -> Result<Option<Option<i64>>, ApiError> {
                match value {
                    None => Ok(None),
                    Some(-1) => Ok(Some(None)),
                    Some(x) => {
                        let x = check_vlan(x)?;
                        if let Some(h) = self.vlan_holder(&end.product_uid, x, Some(uid)) {
                            return Err(ApiError::validation(format!(
                                "VLAN {x} is already in use on product {} by VXC {}",
                                end.product_uid, h.uid
                            )));
                        }
                        Ok(Some(Some(x)))
                    }
                }
            };
        let a_vlan = vlan_for(req.a_end_vlan, &v.a)?;
        let b_vlan = vlan_for(req.b_end_vlan, &v.b)?;
        let p = self
            .product_mut(uid)
            .ok_or_else(|| ApiError::not_found("VXC vanished"))?;
        if let Some(name) = req.name {
            p.name = name;
        }
        if let Some(r) = rate {
            p.speed = r;
        }
        if let Some(cc) = req.cost_centre {
            p.cost_centre = cc;
        }
        if let Some(t) = term {
            p.term = t;
        }
        let info = p
            .vxc
            .as_mut()
            .ok_or_else(|| ApiError::not_found("VXC vanished"))?;
        if let Some(s) = req.shutdown {
            info.shutdown = s;
        }
        if let Some(vl) = a_vlan {
            info.a.vlan = vl;
        }
        if let Some(vl) = b_vlan {
            info.b.vlan = vl;
        }
        if let Some(x) = req.a_end_inner_vlan {
            info.a.inner_vlan = Some(x);
        }
        if let Some(x) = req.b_end_inner_vlan {
            info.b.inner_vlan = Some(x);
        }
        match req.is_approved {
            Some(true) => {
                info.approval = None;
                p.provisioning_since = Some(now);
            }
            Some(false) => {
                info.approval = None;
                p.status = status::DECOMMISSIONED.into();
                p.terminate_date = Some(now);
                p.provisioning_since = None;
            }
            None => {}
        }
        Ok(())
    }

    /// `POST /v3/product/{uid}/action/{action}`; returns the response message.
    pub fn product_action(
        &mut self,
        caller: &Caller,
        uid: &str,
        action: &str,
        safe_delete: bool,
        now: i64,
    ) -> Result<String, ApiError> {
        require_write(caller)?;
        let p = self.readable(caller, uid)?;
        let is_vxc = p.kind == ProductKind::Vxc;
        if p.company_uid != caller.company_uid && !is_vxc {
            return Err(ApiError::forbidden(
                "Only the owner may terminate this product",
            ));
        }
        let attached: Vec<String> = if is_vxc {
            Vec::new()
        } else {
            self.vxcs_on(uid)
                .filter(|v| v.holds_resources())
                .map(|v| v.uid.clone())
                .collect()
        };
        let current = p.status.clone();
        match action {
            "CANCEL" | "CANCEL_NOW" => {
                if current == status::DECOMMISSIONED
                    || (action == "CANCEL" && current == status::CANCELLED)
                {
                    return Err(ApiError::validation(format!(
                        "Product {uid} is already {current}"
                    )));
                }
                if safe_delete && !attached.is_empty() {
                    return Err(ApiError::validation(format!(
                        "Product {uid} has {} active VXC(s) attached",
                        attached.len()
                    )));
                }
            }
            "UN_CANCEL" => {
                if current != status::CANCELLED {
                    return Err(ApiError::validation(format!(
                        "Product {uid} is {current}, not CANCELLED"
                    )));
                }
            }
            other => return Err(ApiError::validation(format!("Unsupported action {other}"))),
        }
        let p = self
            .product_mut(uid)
            .ok_or_else(|| ApiError::not_found("product vanished"))?;
        match action {
            "CANCEL" => {
                p.previous_status = Some(current);
                p.status = status::CANCELLED.into();
                p.terminate_date = Some(p.contract_end.unwrap_or(now).max(now));
            }
            "CANCEL_NOW" => {
                p.status = status::DECOMMISSIONED.into();
                p.terminate_date = Some(now);
                p.provisioning_since = None;
                if let Some(v) = p.vxc.as_mut() {
                    v.approval = None;
                }
                for vxc_uid in attached {
                    if let Some(v) = self.product_mut(&vxc_uid) {
                        v.status = status::DECOMMISSIONED.into();
                        v.terminate_date = Some(now);
                        v.provisioning_since = None;
                    }
                }
            }
            _ => {
                p.status = p
                    .previous_status
                    .take()
                    .unwrap_or_else(|| status::LIVE.into());
                p.terminate_date = None;
            }
        }
        Ok(format!("Action [{action} Service {uid}] has been done."))
    }

    /// Tags of a product the caller owns.
    pub fn tags(&self, caller: &Caller, uid: &str) -> Result<&[Tag], ApiError> {
        let p = self.readable(caller, uid)?;
        Ok(&p.tags)
    }

    /// Replaces the tag set of a product the caller owns.
    pub fn put_tags(&mut self, caller: &Caller, uid: &str, req: TagsPut) -> Result<(), ApiError> {
        require_write(caller)?;
        if req.resource_tags.iter().any(|t| t.key.trim().is_empty()) {
            return Err(ApiError::validation("Tag keys must not be empty"));
        }
        let p = self.owned_mut(caller, uid)?;
        if p.company_uid != caller.company_uid {
            return Err(ApiError::forbidden("Only the owner may tag this product"));
        }
        p.tags = req.resource_tags;
        Ok(())
    }

    /// `GET /v2/product/port/{uid}/vlan?vlan=N`: whether N is free on the product.
    pub fn vlan_free(&self, caller: &Caller, uid: &str, vlan: i64) -> Result<bool, ApiError> {
        let p = self.readable(caller, uid)?;
        if p.kind == ProductKind::Vxc {
            return Err(ApiError::not_found(format!(
                "Could not find a port with UID {uid}"
            )));
        }
        Ok(check_vlan(vlan).is_ok() && self.vlan_holder(uid, vlan, None).is_none())
    }

    // ---------------------------------------------------------------- test controls

    /// Invalidates every issued token.
    pub fn revoke_tokens(&mut self) {
        self.tokens.clear();
    }

    /// Overrides an API key's token lifetime (affects tokens issued afterwards).
    pub fn set_token_lifetime(&mut self, client_id: &str, secs: u64) -> Result<(), ApiError> {
        let c = self
            .clients
            .iter_mut()
            .find(|c| c.client_id == client_id)
            .ok_or_else(|| ApiError::not_found(format!("No API key with client id {client_id}")))?;
        c.token_lifetime_secs = secs.max(1);
        Ok(())
    }

    /// Forces a product's provisioning status (stops any progression).
    pub fn set_status(&mut self, uid: &str, new_status: &str, now: i64) -> Result<(), ApiError> {
        let p = self
            .product_mut(uid)
            .ok_or_else(|| ApiError::not_found(format!("No product {uid}")))?;
        if new_status.trim().is_empty() {
            return Err(ApiError::bad_request("provisioningStatus is required"));
        }
        p.status = new_status.to_ascii_uppercase();
        p.provisioning_since = None;
        match p.status.as_str() {
            status::LIVE if p.live_date.is_none() => p.live_date = Some(now),
            status::DECOMMISSIONED => p.terminate_date = Some(now),
            _ => {}
        }
        Ok(())
    }

    /// Sets a product's `vxcPermitted`.
    pub fn set_vxc_permitted(&mut self, uid: &str, value: bool) -> Result<(), ApiError> {
        let p = self
            .product_mut(uid)
            .ok_or_else(|| ApiError::not_found(format!("No product {uid}")))?;
        p.vxc_permitted = value;
        Ok(())
    }

    /// Whether a string looks like a product uid (for route parameters).
    pub fn is_uid(s: &str) -> bool {
        is_uuid(s)
    }
}

/// The MVE VXC speed limit by size [INF].
pub fn mve_speed(size: Option<&str>) -> u32 {
    match size.map(str::to_ascii_uppercase).as_deref() {
        Some("MEDIUM") => 5_000,
        Some("LARGE") | Some("X_LARGE_12") => 10_000,
        _ => 2_500,
    }
}

/// Resolves a `validFor` into (start, end): start defaults to `default_start` or now; end < start is 400.
fn window(
    vf: Option<&super::requests::ValidFor>,
    now: i64,
    default_start: Option<i64>,
) -> Result<(i64, Option<i64>), ApiError> {
    let start = vf.and_then(|v| v.start).or(default_start).unwrap_or(now);
    let end = vf.and_then(|v| v.end);
    if let Some(e) = end
        && e < start
    {
        return Err(ApiError::validation(
            "validFor.end must not be before validFor.start",
        ));
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::ValidFor;

    pub(crate) const QGPU: &str = "4f8e2a10-6b3c-4d1e-9a7f-2c5b8e0d1a01";
    const LA1: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001";
    const MCR: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0010";
    const LEGACY: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0009";

    fn world() -> World {
        World::from_scenario(&Scenario::quantumgpu()).expect("world")
    }
    fn admin(w: &World) -> Caller {
        caller(w, "qgpu-admin")
    }
    fn caller(w: &World, id: &str) -> Caller {
        w.test_caller(id)
    }
    fn create(vlan: Option<i64>, single: bool, speed: Option<i64>) -> KeyCreate {
        KeyCreate {
            product_uid: Some(LA1.into()),
            single_use: Some(single),
            vlan,
            max_speed: speed,
            ..Default::default()
        }
    }

    #[test]
    fn vlan_range_is_2_to_4093() {
        assert!(check_vlan(1).is_err());
        assert!(check_vlan(2).is_ok());
        assert!(check_vlan(4093).is_ok());
        assert!(check_vlan(4094).is_err());
    }

    #[test]
    fn speeds_must_be_positive_and_within_limit() {
        assert!(check_speed(0, 1000, "x").is_err());
        assert!(check_speed(1001, 1000, "x").is_err());
        assert_eq!(check_speed(1000, 1000, "x").expect("ok"), 1000);
    }

    #[test]
    fn terms() {
        assert!(check_term(12).is_ok());
        assert!(check_term(6).is_err());
    }

    #[test]
    fn tokens_expire_and_are_revocable() {
        let mut w = world();
        assert!(w.issue_token("qgpu-admin", "wrong", 0).is_none());
        let (t, life) = w
            .issue_token("qgpu-admin", "qgpu-admin-secret-5f2a9c", 1_000)
            .expect("token");
        assert_eq!(life, 86_400);
        assert_eq!(t.split('.').count(), 3, "JWT-shaped");
        assert!(w.authenticate(Some(&t), 1_000 + 86_399_000).is_ok());
        assert_eq!(
            w.authenticate(Some(&t), 1_000 + 86_400_000)
                .map_err(|e| e.status),
            Err(401)
        );
        w.revoke_tokens();
        assert_eq!(
            w.authenticate(Some(&t), 2_000).map_err(|e| e.status),
            Err(401)
        );
        assert_eq!(w.authenticate(None, 2_000).map_err(|e| e.status), Err(401));
    }

    #[test]
    fn read_only_cannot_write() {
        let mut w = world();
        let ro = caller(&w, "qgpu-readonly");
        let err = w
            .create_key(&ro, create(Some(10), true, None), 0)
            .expect_err("403");
        assert_eq!(err.status, 403);
    }

    #[test]
    fn key_create_rules() {
        let mut w = world();
        let a = admin(&w);
        assert!(
            w.create_key(&a, create(None, true, None), 0).is_err(),
            "single-use needs a VLAN"
        );
        assert!(w.create_key(&a, create(Some(4094), true, None), 0).is_err());
        assert!(
            w.create_key(&a, create(Some(10), true, Some(10_001)), 0)
                .is_err()
        );
        assert!(
            w.create_key(&a, create(Some(10), true, Some(0)), 0)
                .is_err()
        );
        let k1 = w
            .create_key(&a, create(Some(10), true, Some(500)), 0)
            .expect("k1");
        let k2 = w
            .create_key(&a, create(Some(10), true, Some(500)), 0)
            .expect("duplicate VLAN accepted");
        assert_ne!(k1, k2);
        let k = w.find_key(&k1).expect("found");
        assert!(k.active, "active defaults to true");
        assert_eq!(k.max_speed, 500);
        // MCR: limit is maxVxcSpeed (5000), not the 10000 port speed.
        let mut mcr = create(None, false, Some(6_000));
        mcr.product_uid = Some(MCR.into());
        assert!(w.create_key(&a, mcr.clone(), 0).is_err());
        mcr.max_speed = None;
        let km = w.create_key(&a, mcr, 0).expect("mcr key");
        assert_eq!(w.find_key(&km).expect("k").max_speed, 5_000);
        // Multi-use keys carry no VLAN; decommissioned and foreign products are refused.
        let multi = w
            .create_key(&a, create(Some(77), false, None), 0)
            .expect("multi");
        assert_eq!(w.find_key(&multi).expect("k").vlan, None);
        let mut dead = create(Some(5), true, None);
        dead.product_uid = Some(LEGACY.into());
        assert!(w.create_key(&a, dead, 0).is_err());
        let acme = caller(&w, "acme-admin");
        assert_eq!(
            w.create_key(&acme, create(Some(5), true, None), 0)
                .map_err(|e| e.status),
            Err(400)
        );
    }

    #[test]
    fn key_update_resets_omitted_fields() {
        let mut w = world();
        let a = admin(&w);
        let mut c = create(Some(10), true, Some(500));
        c.description = Some("d".into());
        c.pre_approved = Some(true);
        let key = w.create_key(&a, c, 0).expect("key");
        let upd = KeyUpdate {
            key: Some(key.clone()),
            single_use: Some(true),
            active: Some(false),
            ..Default::default()
        };
        w.update_key(&a, upd, 0).expect("update");
        let k = w.find_key(&key).expect("k");
        assert_eq!(
            (
                k.description.clone(),
                k.max_speed,
                k.vlan,
                k.pre_approved,
                k.active
            ),
            (None, 10_000, None, None, false)
        );
        let acme = caller(&w, "acme-admin");
        let foreign = KeyUpdate {
            key: Some(key),
            ..Default::default()
        };
        assert_eq!(
            w.update_key(&acme, foreign, 0).map_err(|e| e.status),
            Err(403)
        );
    }

    #[test]
    fn key_validity_window_and_prefix_lookup() {
        let mut w = world();
        let a = admin(&w);
        let mut c = create(Some(10), true, None);
        c.valid_for = Some(ValidFor {
            start: Some(1_000),
            end: Some(2_000),
        });
        let key = w.create_key(&a, c, 0).expect("key");
        let k = w.find_key(&key[..8]).expect("prefix");
        assert!(!key_valid(k, 999));
        assert!(key_valid(k, 1_500));
        assert!(!key_expired(k, 2_000));
        assert!(key_expired(k, 2_001) && !key_valid(k, 2_001));
        assert_eq!(w.find_key(&key[..7]).map_err(|e| e.status).err(), Some(404));
        assert_eq!(
            w.find_key("00000000").map_err(|e| e.status).err(),
            Some(404)
        );
        let mut bad = create(Some(10), true, None);
        bad.valid_for = Some(ValidFor {
            start: Some(2_000),
            end: Some(1_000),
        });
        assert!(w.create_key(&a, bad, 0).is_err());
    }

    #[test]
    fn provisioning_progresses_on_the_clock() {
        let mut w = world();
        w.products[0].status = status::DEPLOYABLE.into();
        w.products[0].provisioning_since = Some(0);
        w.tick(29_999);
        assert_eq!(w.products[0].status, status::DEPLOYABLE);
        w.tick(30_000);
        assert_eq!(w.products[0].status, status::CONFIGURED);
        w.tick(60_000);
        assert_eq!(w.products[0].status, status::LIVE);
        assert_eq!(w.products[0].live_date, Some(60_000));
    }

    #[test]
    fn uncancel_resumes_provisioning() {
        let mut w = world();
        let a = admin(&w);
        let uid = w.products[0].uid.clone();
        w.products[0].status = status::DEPLOYABLE.into();
        w.products[0].provisioning_since = Some(0);
        w.product_action(&a, &uid, "CANCEL", false, 1_000)
            .expect("cancel");
        w.tick(90_000);
        assert_eq!(w.products[0].status, status::CANCELLED);
        w.product_action(&a, &uid, "UN_CANCEL", false, 90_000)
            .expect("restore");
        assert_eq!(w.products[0].status, status::DEPLOYABLE);
        w.tick(90_001);
        assert_eq!(w.products[0].status, status::LIVE);
    }

    #[test]
    fn actions_cancel_uncancel_cancel_now() {
        let mut w = world();
        let a = admin(&w);
        let uid = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0005";
        w.product_action(&a, uid, "CANCEL", false, 0)
            .expect("cancel");
        assert_eq!(w.product(uid).expect("p").status, status::CANCELLED);
        w.product_action(&a, uid, "UN_CANCEL", false, 0)
            .expect("restore");
        assert_eq!(w.product(uid).expect("p").status, status::LIVE);
        assert!(
            w.product_action(&a, LA1, "CANCEL_NOW", true, 0).is_err(),
            "safeDelete with VXCs"
        );
        w.product_action(&a, LA1, "CANCEL_NOW", false, 0)
            .expect("now");
        assert_eq!(w.product(LA1).expect("p").status, status::DECOMMISSIONED);
        assert!(
            w.vxcs_on(LA1).all(|v| v.status == status::DECOMMISSIONED),
            "VXCs go with the port"
        );
        assert!(w.product_action(&a, LA1, "FOO", false, 0).is_err());
    }

    #[test]
    fn vlans_in_use_and_auto_assignment() {
        let w = world();
        let a = admin(&w);
        assert!(!w.vlan_free(&a, LA1, 101).expect("ok"));
        assert!(w.vlan_free(&a, LA1, 104).expect("ok"));
        assert!(!w.vlan_free(&a, LA1, 4094).expect("ok"));
        // 202 was held by a decommissioned VXC: free again.
        assert!(
            w.vlan_free(&a, "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0002", 202)
                .expect("ok")
        );
        assert_eq!(w.auto_vlan(LA1, &[]).expect("vlan"), 2);
        assert_eq!(w.auto_vlan(LA1, &[(LA1.to_string(), 2)]).expect("vlan"), 3);
    }

    #[test]
    fn markets_by_country() {
        let w = world();
        let acme = caller(&w, "acme-admin");
        let london = w.location(37).expect("loc").clone();
        let err = w
            .check_market(&acme.company_uid, &london)
            .expect_err("no UK market");
        assert_eq!(err.data, Value::String("Missing markets: UK".into()));
        assert!(w.check_market(QGPU, &london).is_ok());
    }

    #[test]
    fn product_visibility() {
        let w = world();
        let acme = caller(&w, "acme-admin");
        assert_eq!(
            w.readable(&acme, LA1).map(|_| ()).map_err(|e| e.status),
            Err(404)
        );
        assert_eq!(w.list_products(&admin(&w), &["LIVE".into()]).len(), 8);
        assert_eq!(w.list_products(&admin(&w), &[]).len(), 10);
    }
}
