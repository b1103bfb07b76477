//! `megaport-operator crd`: prints every CRD generated from the Rust types, or writes one file
//! each (how `crds/` is made).

use clap::Args;

/// Arguments of `megaport-operator crd`.
#[derive(Debug, Args)]
pub struct CrdArgs {
    /// Write `<plural>.<group>.yaml` files into this directory instead of printing.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

/// `megaport-operator crd`: prints every CRD as a multi-document YAML stream, or writes one
/// file each into `--dir`.
pub fn run(args: &CrdArgs) -> anyhow::Result<()> {
    for crd in crate::crd::all() {
        let yaml = crate::crd::to_yaml(&crd)?;
        match &args.dir {
            Some(dir) => std::fs::write(dir.join(crate::crd::file_name(&crd)), yaml)?,
            None => print!("---\n{yaml}"),
        }
    }
    Ok(())
}
