//! An in-process fake of the Megaport ports the controllers call ([`ProductsApi`],
//! [`ServiceKeysApi`], [`OrderingApi`], acting for managed companies as [`Accounts`]), over the simulator's world with no HTTP and no ports
//! ([`megaport_sim::InProcess`]): the simulator's real rules, counters and fault injection; the
//! operator's own models and error type (decoded from the same envelopes, refusals built by the
//! client's own error path). For reconcile tests.

use async_trait::async_trait;
use megaport_sim::{InProcess, Scenario, quantumgpu};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::client::api_error;
use super::error::decode_detail;
use super::models::{
    BillingMarket, BoughtItem, CreateServiceKey, Location, ManagedCompany, OrderItem, Product,
    ProductAction, ResourceTag, ServiceKey, ServiceShape, UpdateServiceKey, ValidatedItem,
    VxcUpdate,
};
use super::{Accounts, MegaportApi, MegaportError, OrderingApi, ProductsApi, ServiceKeysApi};

/// The simulator in-process, as one API client of its scenario.
#[derive(Clone)]
pub struct FakeMegaport {
    /// The simulator (faults, counters, clock).
    pub sim: InProcess,
    token: String,
    /// The managed company every call acts for (`X-Call-Context`).
    context: Option<String>,
}

/// A connection the simulator dropped (a fault).
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by the simulator")]
struct Dropped;

impl FakeMegaport {
    /// The QuantumGPU world, as its provider's Company Admin.
    pub fn quantumgpu() -> Self {
        let sim = InProcess::new(Scenario::quantumgpu())
            .unwrap_or_else(|e| panic!("the built-in scenario loads: {e}"));
        let token = sim
            .token(
                quantumgpu::PROVIDER_ADMIN_ID,
                quantumgpu::PROVIDER_ADMIN_SECRET,
            )
            .unwrap_or_default();
        Self {
            sim,
            token,
            context: None,
        }
    }

    /// Another API client of the same world: the company whose API key is `client_id`.
    pub fn as_client(&self, client_id: &str, secret: &str) -> Self {
        Self {
            token: self.sim.token(client_id, secret).unwrap_or_default(),
            context: None,
            sim: self.sim.clone(),
        }
    }

    /// The same fake acting for the managed company `company_uid`.
    pub fn acting_for(&self, company_uid: &str) -> Self {
        Self {
            context: Some(company_uid.to_owned()),
            ..self.clone()
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: &str,
        query: Option<String>,
        body: Option<Value>,
    ) -> Result<T, MegaportError> {
        let method = endpoint.split(' ').next().unwrap_or("GET");
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let answer = self
            .sim
            .call_for(
                method,
                path,
                query.as_deref(),
                Some(&self.token),
                self.context.as_deref(),
                bytes,
            )
            .await
            .map_err(|_| MegaportError::Transport {
                endpoint,
                source: Box::new(Dropped),
            })?;
        if !(200..300).contains(&answer.status) {
            return Err(api_error(endpoint, answer.status, &answer.body, None));
        }
        let envelope: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let data = envelope.get("data").cloned().unwrap_or(Value::Null);
        serde_json::from_value(data).map_err(|e| MegaportError::Decode {
            endpoint,
            detail: decode_detail(&e),
        })
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<Value, MegaportError> {
    serde_json::to_value(value).map_err(|e| MegaportError::Config(e.to_string()))
}

#[async_trait]
impl ProductsApi for FakeMegaport {
    async fn list_products(&self, status: Option<&str>) -> Result<Vec<Product>, MegaportError> {
        let query = status.map(|s| format!("provisioningStatus={s}"));
        self.call("GET /v2/products", "/v2/products", query, None)
            .await
    }

    async fn get_product(&self, uid: &str) -> Result<Product, MegaportError> {
        self.call(
            "GET /v2/product/{uid}",
            &format!("/v2/product/{uid}"),
            None,
            None,
        )
        .await
    }

    async fn list_locations(&self) -> Result<Vec<Location>, MegaportError> {
        self.call("GET /v3/locations", "/v3/locations", None, None)
            .await
    }
}

#[async_trait]
impl ServiceKeysApi for FakeMegaport {
    async fn list_service_keys(&self) -> Result<Vec<ServiceKey>, MegaportError> {
        self.call("GET /v2/service/key", "/v2/service/key", None, None)
            .await
    }

    async fn list_service_keys_for_product(
        &self,
        uid: &str,
    ) -> Result<Vec<ServiceKey>, MegaportError> {
        let query = Some(format!("productIdOrUid={uid}"));
        self.call("GET /v2/service/key", "/v2/service/key", query, None)
            .await
    }

    async fn get_service_key(&self, key: &str) -> Result<ServiceKey, MegaportError> {
        let query = Some(format!("key={key}"));
        self.call("GET /v2/service/key?key", "/v2/service/key", query, None)
            .await
            .map_err(|e| e.redact_service_key(key))
    }

    async fn create_service_key(
        &self,
        request: &CreateServiceKey,
    ) -> Result<ServiceKey, MegaportError> {
        let body = json(request)?;
        self.call("POST /v2/service/key", "/v2/service/key", None, Some(body))
            .await
    }

    async fn update_service_key(
        &self,
        request: &UpdateServiceKey,
    ) -> Result<ServiceKey, MegaportError> {
        let body = json(request)?;
        self.call("PUT /v2/service/key", "/v2/service/key", None, Some(body))
            .await
            .map_err(|e| e.redact_service_key(request.key.expose()))
    }

    async fn check_port_vlan(&self, port_uid: &str, vlan: u16) -> Result<bool, MegaportError> {
        let path = format!("/v2/product/port/{port_uid}/vlan");
        let free: Vec<i64> = self
            .call(
                "GET /v2/product/port/{uid}/vlan",
                &path,
                Some(format!("vlan={vlan}")),
                None,
            )
            .await?;
        Ok(free.contains(&i64::from(vlan)))
    }
}

impl Accounts for FakeMegaport {
    fn account(&self, company_uid: Option<&str>) -> std::sync::Arc<dyn MegaportApi> {
        match company_uid {
            Some(uid) => std::sync::Arc::new(self.acting_for(uid)),
            None => std::sync::Arc::new(self.clone()),
        }
    }
}

#[async_trait]
impl OrderingApi for FakeMegaport {
    async fn validate_network_design(
        &self,
        items: &[OrderItem],
    ) -> Result<Vec<ValidatedItem>, MegaportError> {
        let body = json(&items)?;
        let path = "/v3/networkdesign/validate";
        self.call("POST /v3/networkdesign/validate", path, None, Some(body))
            .await
    }

    async fn buy_network_design(
        &self,
        items: &[OrderItem],
        discount_codes: &[String],
    ) -> Result<Vec<BoughtItem>, MegaportError> {
        let body =
            serde_json::json!({"networkDesign": json(&items)?, "discountCodes": discount_codes});
        let path = "/v4/networkdesign/buy";
        self.call("POST /v4/networkdesign/buy", path, None, Some(body))
            .await
    }

    async fn product_action(
        &self,
        uid: &str,
        action: ProductAction,
        safe_delete: bool,
    ) -> Result<(), MegaportError> {
        let path = format!("/v3/product/{uid}/action/{}", action.as_str());
        let query = safe_delete.then(|| "safeDelete=true".to_owned());
        let _: Value = self
            .call("POST /v3/product/{uid}/action/{action}", &path, query, None)
            .await?;
        Ok(())
    }

    async fn get_product_tags(&self, uid: &str) -> Result<Vec<ResourceTag>, MegaportError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Tags {
            resource_tags: Vec<ResourceTag>,
        }
        let path = format!("/v2/product/{uid}/tags");
        let tags: Tags = self
            .call("GET /v2/product/{uid}/tags", &path, None, None)
            .await?;
        Ok(tags.resource_tags)
    }

    async fn put_product_tags(&self, uid: &str, tags: &[ResourceTag]) -> Result<(), MegaportError> {
        let path = format!("/v2/product/{uid}/tags");
        let body = serde_json::json!({"resourceTags": json(&tags)?});
        let _: Value = self
            .call("PUT /v2/product/{uid}/tags", &path, None, Some(body))
            .await?;
        Ok(())
    }

    async fn list_billing_markets(&self) -> Result<Vec<BillingMarket>, MegaportError> {
        self.call("GET /v2/market", "/v2/market", None, None).await
    }

    async fn list_managed_companies(&self) -> Result<Vec<ManagedCompany>, MegaportError> {
        let path = "/v2/managedCompanies";
        self.call("GET /v2/managedCompanies", path, None, None)
            .await
    }

    async fn update_vxc(
        &self,
        uid: &str,
        update: &VxcUpdate,
    ) -> Result<ServiceShape, MegaportError> {
        let path = format!("/v3/product/vxc/{uid}");
        self.call(
            "PUT /v3/product/vxc/{uid}",
            &path,
            None,
            Some(json(update)?),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use megaport_sim::FaultSpec;

    #[tokio::test]
    async fn the_fake_serves_the_simulators_world_and_its_faults() {
        let fake = FakeMegaport::quantumgpu();
        let products = fake.list_products(None).await.unwrap_or_default();
        assert!(
            products
                .iter()
                .any(|p| p.product_uid == quantumgpu::PORT_LAX_EQ1_BLUE)
        );
        assert_eq!(fake.sim.counter("GET /v2/products"), 1);
        fake.sim
            .inject_fault(FaultSpec::status(503).path("/v2/service/key").times(1))
            .unwrap_or_default();
        let err = fake.list_service_keys().await.err();
        assert_eq!(err.and_then(|e| e.status()), Some(503));
        assert!(
            fake.list_service_keys().await.is_ok(),
            "the fault fired once"
        );
    }
}
