//! Glyph placement for bitmaps.
//!
//! plotters 0.3.7 draws each glyph's ink at the pen position, dropping the
//! glyph's left side bearing, so letters sit unevenly ("parti tion"). Our own
//! text in PNGs (titles, legends, captions, axis and fault labels) is drawn one
//! glyph at a time, each moved right by its bearing, read from the bundled
//! font's `hmtx` table. Tick labels (digits, whose bearings barely differ) and
//! characters outside the table keep plotters' placement.

use super::FONT;

/// Side bearings of the bundled font, in font units.
pub(super) struct Bearing {
    /// Ascender − descender (`hhea`): ab_glyph scales a font so that this
    /// height is the requested pixel size.
    height: f64,
    /// (first char, last char, idDelta, offset of its idRangeOffset word) of
    /// each segment of the format-4 `cmap` subtable.
    segments: Vec<(u32, u32, u16, usize)>,
    /// Left side bearing of each glyph.
    lsb: Vec<i16>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

impl Bearing {
    pub(super) fn get() -> Option<&'static Bearing> {
        static BEARING: std::sync::OnceLock<Option<Bearing>> = std::sync::OnceLock::new();
        BEARING.get_or_init(|| Bearing::parse(FONT)).as_ref()
    }

    fn parse(b: &[u8]) -> Option<Bearing> {
        let table = |tag: &[u8; 4]| {
            (0..usize::from(u16_at(b, 4)?))
                .map(|i| 12 + 16 * i)
                .find(|&r| b.get(r..r + 4) == Some(&tag[..]))
                .and_then(|r| u32_at(b, r + 8).map(|o| o as usize))
        };
        let hhea = table(b"hhea")?;
        let height =
            f64::from(u16_at(b, hhea + 4)? as i16) - f64::from(u16_at(b, hhea + 6)? as i16);
        let metrics = usize::from(u16_at(b, hhea + 34)?);
        let glyphs = usize::from(u16_at(b, table(b"maxp")? + 4)?);
        let hmtx = table(b"hmtx")?;
        let lsb = (0..glyphs)
            .map(|g| {
                let at = if g < metrics {
                    hmtx + 4 * g + 2
                } else {
                    hmtx + 4 * metrics + 2 * (g - metrics)
                };
                u16_at(b, at).map(|v| v as i16)
            })
            .collect::<Option<Vec<i16>>>()?;
        let cmap = table(b"cmap")?;
        let sub = (0..usize::from(u16_at(b, cmap + 2)?))
            .map(|i| cmap + 4 + 8 * i)
            .find(|&r| u16_at(b, r) == Some(3) && u16_at(b, r + 2) == Some(1))
            .and_then(|r| u32_at(b, r + 4))
            .map(|o| cmap + o as usize)?;
        if u16_at(b, sub)? != 4 {
            return None;
        }
        let n = usize::from(u16_at(b, sub + 6)? / 2);
        let ends = sub + 14;
        let starts = ends + 2 * n + 2;
        let deltas = starts + 2 * n;
        let offsets = deltas + 2 * n;
        let segments = (0..n)
            .map(|i| {
                Some((
                    u32::from(u16_at(b, starts + 2 * i)?),
                    u32::from(u16_at(b, ends + 2 * i)?),
                    u16_at(b, deltas + 2 * i)?,
                    offsets + 2 * i,
                ))
            })
            .collect::<Option<Vec<_>>>()?;
        (height > 0.0).then_some(Bearing {
            height,
            segments,
            lsb,
        })
    }

    fn glyph(&self, c: char) -> Option<usize> {
        let c = u32::from(c);
        let &(first, _, delta, range_at) = self
            .segments
            .iter()
            .find(|&&(first, last, _, _)| first <= c && c <= last)?;
        let range = usize::from(u16_at(FONT, range_at)?);
        let id = if range == 0 {
            (c as u16).wrapping_add(delta)
        } else {
            let g = u16_at(FONT, range_at + range + 2 * (c - first) as usize)?;
            if g == 0 {
                return None;
            }
            g.wrapping_add(delta)
        };
        Some(usize::from(id))
    }

    /// How far right of the pen the ink of `c` starts at `size` pixels,
    /// as ab_glyph rounds it.
    pub(super) fn offset(&self, c: char, size: f64) -> i32 {
        self.glyph(c)
            .and_then(|g| self.lsb.get(g))
            .map_or(0, |&lsb| {
                (f64::from(lsb) * size / self.height).floor() as i32
            })
    }
}
