//! Training U-Net++/ResNet34: config, optimizer, loss scaling, schedule, the epoch loop and its run directory.
pub mod adam;
pub mod config;
pub mod curves;
pub mod log;
pub mod schedule;
pub mod step;

pub use config::TrainConfig;
pub use step::{dice_sum, step, StepState};
