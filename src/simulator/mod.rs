//! Megaport API simulator (placeholder: the stateful simulator lands with issue 2).

use crate::cli::SimulatorArgs;

/// Errors of the simulator boundary.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// The simulator is not built yet.
    #[error("the simulator is not implemented yet")]
    NotImplemented,
}

/// Serves the simulator until interrupted.
pub async fn run(_args: SimulatorArgs) -> Result<(), SimulatorError> {
    Err(SimulatorError::NotImplemented)
}
