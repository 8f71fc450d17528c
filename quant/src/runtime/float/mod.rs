//! Float32 ops of the runtime, computed as XNNPACK computes them (the float islands of an int8 graph).
