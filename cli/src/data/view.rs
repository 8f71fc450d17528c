//! `inkling data view`: a grid of drawings, one row per class, as half-block characters in the
//! terminal and optionally as a PNG.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;

use inkling::data::{Bitmap, IMAGE_SIDE};

use super::source::Source;
use super::{Result, ViewArgs};

/// Classes shown when `--classes` is not given (a 345-class directory would fill screens).
const DEFAULT_CLASSES: usize = 8;
/// Gap between drawings, in bitmap pixels (PNG) and columns (terminal).
const GAP: usize = 1;

/// Runs `inkling data view`.
pub fn run(args: &ViewArgs) -> Result<()> {
    if args.num_samples == 0 {
        return Err("--num-samples must be at least 1".into());
    }
    if args.scale == 0 || args.scale > 32 {
        return Err("--scale must be 1 to 32".into());
    }
    let source = Source::parse(&args.source)?;
    let all = source.class_names()?.len();
    let classes = source.select(args.classes.as_deref(), Some(DEFAULT_CLASSES))?;
    let (grid, notes) = source.samples(&classes, args.num_samples, args.seed)?;
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let width = args
        .width
        .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
        .unwrap_or(120);

    let mut text = format!(
        "{}: {} of {all} classes, {} per class{}, seed {}\n",
        source.describe(),
        classes.len(),
        args.num_samples,
        if args.invert_colors {
            ", inverted (black ink on white)"
        } else {
            ""
        },
        args.seed
    );
    for (label, (name, rows)) in classes.iter().zip(&grid).enumerate() {
        text.push_str(&format!("{name} (row {label})\n"));
        text.push_str(&blocks(rows, args.invert_colors, color, width));
    }
    for n in &notes {
        text.push_str(&format!("note: {n}\n"));
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if let Some(out) = &args.out {
        let (w, h) = write_png(out, &grid, args.invert_colors, args.scale)?;
        writeln!(
            stdout,
            "wrote {} ({w}×{h} px: {} rows = classes above, {} columns, scale {})",
            out.display(),
            grid.len(),
            args.num_samples,
            args.scale
        )?;
    }
    Ok(())
}

/// Ink level as shown (inverted or not).
fn shade(v: u8, invert: bool) -> u8 {
    if invert {
        255 - v
    } else {
        v
    }
}

/// `rows` side by side (wrapped at `width` columns), each drawing 28 columns × 14 lines: every
/// character is two pixels stacked (▀ ▄ █ or space, lit at ≥ 128; with `color`, ▀ in 24-step
/// grey with foreground = top pixel and background = bottom pixel).
pub fn blocks(rows: &[Bitmap], invert: bool, color: bool, width: usize) -> String {
    let per_line = (width.saturating_add(GAP) / (IMAGE_SIDE + GAP)).max(1);
    let mut out = String::new();
    for chunk in rows.chunks(per_line) {
        for y in (0..IMAGE_SIDE).step_by(2) {
            let mut line = String::new();
            for (i, b) in chunk.iter().enumerate() {
                if i > 0 {
                    line.push_str(&" ".repeat(GAP));
                }
                for x in 0..IMAGE_SIDE {
                    let top = shade(b[y * IMAGE_SIDE + x], invert);
                    let bottom = shade(b[(y + 1) * IMAGE_SIDE + x], invert);
                    if color {
                        let grey = |v: u8| 232 + u16::from(v) * 23 / 255;
                        line.push_str(&format!("\x1b[38;5;{};48;5;{}m▀", grey(top), grey(bottom)));
                    } else {
                        line.push(match (top >= 128, bottom >= 128) {
                            (true, true) => '█',
                            (true, false) => '▀',
                            (false, true) => '▄',
                            (false, false) => ' ',
                        });
                    }
                }
                if color {
                    line.push_str("\x1b[0m");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// Writes the grid (rows = classes) as an 8-bit greyscale PNG, atomically; returns (width, height).
/// Cells are separated by a mid-grey gap so that they stay apart whatever the colours.
pub fn write_png(
    path: &Path,
    grid: &[Vec<Bitmap>],
    invert: bool,
    scale: usize,
) -> Result<(usize, usize)> {
    let cols = grid.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let cell = IMAGE_SIDE * scale;
    let w = cols * (cell + GAP) + GAP;
    let h = grid.len().max(1) * (cell + GAP) + GAP;
    let background = if invert { 255 } else { 0 };
    let mut pixels = vec![128u8; w * h];
    for (r, row) in grid.iter().enumerate() {
        for c in 0..cols {
            let (x0, y0) = (GAP + c * (cell + GAP), GAP + r * (cell + GAP));
            for y in 0..cell {
                let line = &mut pixels[(y0 + y) * w + x0..][..cell];
                match row.get(c) {
                    Some(b) => {
                        for (x, p) in line.iter_mut().enumerate() {
                            *p = shade(b[(y / scale) * IMAGE_SIDE + x / scale], invert);
                        }
                    }
                    None => line.fill(background),
                }
            }
        }
    }
    let (w32, h32) = (u32::try_from(w)?, u32::try_from(h)?);
    atomic_write(path, |file| {
        let mut enc = png::Encoder::new(BufWriter::new(file), w32, h32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()?;
        Ok(())
    })?;
    Ok((w, h))
}

/// Writes `path` through a temporary file in the same directory, synced and renamed into place,
/// so that a reader never sees a partial file.
pub fn atomic_write(path: &Path, write: impl FnOnce(&std::fs::File) -> Result<()>) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file path", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| -> Result<()> {
        let file = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        write(&file).map_err(|e| format!("{}: {e}", path.display()))?;
        file.sync_all()
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        // Best effort: the write error matters more than a failed cleanup.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_blocks_pair_rows() {
        let mut b = [0u8; IMAGE_SIDE * IMAGE_SIDE];
        b[0] = 255; // (0,0) top only
        b[IMAGE_SIDE + 1] = 200; // (1,1) bottom only
        b[2] = 255;
        b[IMAGE_SIDE + 2] = 255; // (2, 0..2) both
        let s = blocks(&[b], false, false, 120);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 14);
        assert_eq!(lines[0], "▀▄█");
        let inv = blocks(&[b], true, false, 120);
        assert!(inv.lines().nth(1).unwrap().chars().all(|c| c == '█'));
        assert_eq!(inv.lines().next().unwrap().chars().count(), IMAGE_SIDE);
        // Two drawings fit in 57 columns (28 + gap + 28), not in 56.
        assert_eq!(blocks(&[b, b], false, false, 57).lines().count(), 14);
        assert_eq!(blocks(&[b, b], false, false, 56).lines().count(), 28);
    }
}
