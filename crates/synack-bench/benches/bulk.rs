//! Row 1 under criterion: 16 MiB client → server over the in-memory link, synack and smoltcp,
//! MTU 1500 and 65535, application copies included.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use synack_bench::rows::{SmolBulk, SynBulk};

const BYTES: u64 = 16 << 20;

fn bulk(c: &mut Criterion) {
    for mtu in [1500, 65535] {
        let mut g = c.benchmark_group(format!("bulk_mtu{mtu}"));
        g.throughput(Throughput::Bytes(BYTES));
        g.sample_size(10);
        let mut syn = SynBulk::new(mtu);
        g.bench_function("synack", |b| b.iter(|| syn.transfer(BYTES)));
        let mut smol = SmolBulk::new(mtu);
        g.bench_function("smoltcp", |b| b.iter(|| smol.transfer(BYTES)));
        g.finish();
    }
}

criterion_group!(benches, bulk);
criterion_main!(benches);
