//! Training U-Net++/ResNet34: config, optimizer, loss scaling, schedule, the epoch loop and its run directory.
pub mod adam;
pub mod config;
pub mod curves;
pub mod ema;
mod epoch;
pub mod flat;
pub mod interrupt;
pub mod log;
pub mod members;
pub mod prefetch;
mod resumable;
mod run;
pub mod schedule;
pub mod setup;
pub mod step;

pub use config::TrainConfig;
pub use run::{train, TrainSummary};
pub use schedule::out_of_time;
pub use step::{dice_sum, step, StepState};
