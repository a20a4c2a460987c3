//! The one font every plot uses, embedded: GPU servers and slim containers often have no TTF at all,
//! and a curve without axis labels is hard to read. DejaVu Sans, licence in assets/DejaVu-LICENSE.
use plotters::style::FontStyle;
use std::sync::OnceLock;

static EMBEDDED: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the plot font once per process (`TUMORSEG_FONT` may name another TTF); false if that failed.
pub fn ensure() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        let custom = std::env::var_os("TUMORSEG_FONT").and_then(|p| std::fs::read(p).ok());
        // plotters keeps `&'static` font data: leaking one user-supplied font per process is intended.
        let bytes: &'static [u8] = custom.map_or(EMBEDDED, |b| Box::leak(b.into_boxed_slice()));
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
    })
}
