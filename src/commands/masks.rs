//! `tumorseg masks`.
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    anyhow::bail!("`masks` is not implemented yet")
}
