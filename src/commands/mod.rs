//! One module per subcommand: argument parsing and orchestration only; the work lives in the library modules.
pub mod bench;
pub mod clean;
pub mod evaluate;
pub mod info;
pub mod masks;
pub mod pack;
pub mod pipeline;
pub mod predict;
pub mod train;
pub mod tune_threshold;
pub mod visualize;
