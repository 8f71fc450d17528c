//! Readers and writers for the Quick, Draw! file formats, one module per format.
