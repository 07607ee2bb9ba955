//! Row 2 under criterion: one full lifecycle (connect, handshake, 100 B each way, the client
//! closes, the server closes). synack's TIME-WAIT entries accumulate across iterations;
//! smoltcp aborts its TIME-WAIT to reuse the socket.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use synack_bench::rows::{SmolLifecycles, SynLifecycles};

fn lifecycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("lifecycle");
    g.throughput(Throughput::Elements(1));
    let mut syn = SynLifecycles::new();
    g.bench_function("synack", |b| b.iter(|| syn.run_one()));
    let mut smol = SmolLifecycles::new();
    g.bench_function("smoltcp", |b| b.iter(|| smol.run_one()));
    g.finish();
}

criterion_group!(benches, lifecycle);
criterion_main!(benches);
