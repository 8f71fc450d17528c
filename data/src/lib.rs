//! Quick, Draw! formats, the stroke rasterizer, synthetic doodles and the batch loader (see DESIGN.md, Data).
//!
//! Filled by the data issue.
