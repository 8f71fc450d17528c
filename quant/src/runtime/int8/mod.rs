//! int8 ops of the runtime with XNNPACK's requantization, bit for bit.
