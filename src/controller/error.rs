//! Why a reconcile failed: the [`Step`] that failed and the call that failed in it, with the
//! reason the failure leaves in status.

use std::sync::Arc;

use kube::runtime::finalizer;

use crate::crd::conditions::Reason;
use crate::megaport::MegaportError;

/// The step of a reconcile, for errors and the status they leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Reading the shared Megaport products and keys lists.
    ReadMegaport,
    /// Reading the request's OnRampRegion.
    ReadRegion,
    /// Reading the request's Namespace (for `allowedNamespaces`).
    ReadNamespace,
    /// Reading the Secret the keys go to.
    ReadSecret,
    /// Checking, before any key is created, that the Secret can be written (server dry-run).
    CheckSecret,
    /// Writing the key records to the request's annotation.
    SaveRecords,
    /// Searching for and creating a key in Megaport.
    Issue,
    /// Updating a key in Megaport (spec change or drift restore).
    Update,
    /// Writing the Secret.
    WriteSecret,
    /// Writing the status.
    PatchStatus,
    /// Deactivating keys of a deleted request.
    Deactivate,
    /// Adding or removing the finalizer.
    Finalize,
    /// Reading the Secrets a configuration's VXCs read service keys from.
    ReadKeys,
    /// Answering a connection waiting on a key (`isApproved`).
    Answer,
    /// Reading the ConnectionApprovals people made.
    ReadApprovals,
    /// Checking and pricing a design (markets, key lookups, validate).
    Validate,
    /// Searching the tagged products after a buy with an unknown outcome.
    SearchOrders,
    /// Writing the order records on the configuration.
    SaveOrders,
    /// Buying services.
    Buy,
    /// Reading where the bought services are.
    Follow,
    /// Cancelling the services of a deleted configuration.
    Cancel,
}

impl Step {
    /// The condition reason a failure at this step leaves in status.
    pub fn reason(self) -> Reason {
        match self {
            Self::ReadMegaport
            | Self::Issue
            | Self::Update
            | Self::Deactivate
            | Self::Validate
            | Self::Answer
            | Self::SearchOrders
            | Self::Buy
            | Self::Follow
            | Self::Cancel => Reason::MegaportUnavailable,
            Self::ReadRegion | Self::ReadNamespace | Self::ReadKeys | Self::ReadApprovals => {
                Reason::KubernetesUnavailable
            }
            Self::ReadSecret | Self::CheckSecret | Self::WriteSecret => Reason::SecretWriteFailed,
            Self::SaveRecords | Self::SaveOrders => Reason::RecordsNotSaved,
            Self::PatchStatus => Reason::StatusNotWritten,
            Self::Finalize => Reason::FinalizerNotUpdated,
        }
    }

    /// Whether a failure here may leave users without what the object delivers (the Secret),
    /// so that a Ready object is no longer Ready.
    pub fn touches_delivery(self) -> bool {
        matches!(
            self,
            Self::ReadSecret | Self::CheckSecret | Self::WriteSecret
        )
    }

    /// What the step does, for messages.
    pub fn doing(self) -> &'static str {
        match self {
            Self::ReadMegaport => "reading Megaport's products and keys",
            Self::ReadRegion => "reading the OnRampRegion",
            Self::ReadNamespace => "reading the namespace",
            Self::ReadSecret => "reading the Secret",
            Self::CheckSecret => "checking that the Secret can be written",
            Self::SaveRecords => "recording the keys on the request",
            Self::Issue => "issuing a key in Megaport",
            Self::Update => "updating a key in Megaport",
            Self::WriteSecret => "writing the Secret",
            Self::PatchStatus => "writing the status",
            Self::Deactivate => "deactivating the keys",
            Self::Finalize => "updating the finalizer",
            Self::ReadKeys => "reading the Secrets holding the service keys",
            Self::Answer => "answering a connection waiting on a key",
            Self::ReadApprovals => "reading the ConnectionApprovals",
            Self::Validate => "checking and pricing the design",
            Self::SearchOrders => "searching Megaport for services an earlier buy may have made",
            Self::SaveOrders => "recording the order on the configuration",
            Self::Buy => "buying the services",
            Self::Follow => "reading the ordered services",
            Self::Cancel => "cancelling the services",
        }
    }
}

/// Why a reconcile failed: the step, and the call that failed in it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Megaport API failed (after the client's own retries).
    #[error("{} failed: Megaport: {source}", step.doing())]
    Megaport {
        /// Where.
        step: Step,
        /// The API's error.
        #[source]
        source: Arc<MegaportError>,
    },
    /// A Kubernetes call failed.
    #[error("{} failed: Kubernetes: {source}", step.doing())]
    Kube {
        /// Where.
        step: Step,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The step waits for something outside to settle (no call failed), e.g. a deletion for
    /// a buy whose outcome is still unknown: tried again later.
    #[error("{} waits: {why}", step.doing())]
    Waiting {
        /// Where.
        step: Step,
        /// For what.
        why: String,
    },
    /// Adding or removing the finalizer, or the apply or cleanup behind it, failed. Shown as
    /// the failed step's own message: kube-runtime's wrapper ("failed to apply object: …")
    /// would reach status, where Argo CD, Flux and kubectl show it.
    #[error("{}", finalizer_message(.0))]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
}

fn finalizer_message(err: &finalizer::Error<Error>) -> String {
    match err {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e.to_string(),
        other => other.to_string(),
    }
}

impl Error {
    /// A Kubernetes failure at `step`.
    pub fn kube(step: Step, source: kube::Error) -> Self {
        Self::Kube { step, source }
    }

    /// A Megaport failure at `step`.
    pub fn megaport(step: Step, source: impl Into<Arc<MegaportError>>) -> Self {
        Self::Megaport {
            step,
            source: source.into(),
        }
    }

    /// The step that failed (through the finalizer wrapper).
    pub fn step(&self) -> Step {
        match self {
            Self::Megaport { step, .. } | Self::Kube { step, .. } | Self::Waiting { step, .. } => {
                *step
            }
            Self::Finalizer(e) => match e.as_ref() {
                finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e.step(),
                _ => Step::Finalize,
            },
        }
    }

    /// A fixed label for metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Megaport { source, .. } => source.category(),
            Self::Kube { .. } => "kubernetes",
            Self::Waiting { .. } => "waiting",
            Self::Finalizer(e) => match e.as_ref() {
                finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => {
                    e.category()
                }
                _ => "kubernetes",
            },
        }
    }
}
