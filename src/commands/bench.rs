//! `tumorseg bench`.
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    anyhow::bail!("`bench` is not implemented yet")
}
