//! Measured peak throughput of this CPU (FMA and int8 dot-product loops), for `inkling bench`.
