//! `tumorseg tune-threshold`.
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    anyhow::bail!("`tune-threshold` is not implemented yet")
}
