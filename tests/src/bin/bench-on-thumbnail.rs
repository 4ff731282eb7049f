//! Benchmark: the on-thumbnail handler's own time per event and the process's
//! peak memory, with every call answered locally (DynamoDB and Step Functions
//! by moto server, IVS and Rekognition by the stand-in).
//!
//! `cargo run --release -p e2e-tests --bin bench-on-thumbnail [-- EVENTS] [--detect-latency-ms MS]`
//!
//! It counts the AWS calls each kind of event makes (every request the
//! SDK clients send, retries included). `--detect-latency-ms` has the
//! stand-in answer DetectCustomLabels after that long, as Rekognition does
//! in AWS: the wall time then shows which calls wait on each other.
//!
//! The handler runs on one thread of a current-thread runtime; the stand-in
//! runs on another thread and moto in its own process, so the handler
//! thread's CPU clock measures the handler alone (SDK request building and
//! signing, JSON, the decision). Wall time per event includes moto's and the
//! stand-in's answers on this machine, for scale.

use ad_contract::Catalog;
use backend::decision::Rules;
use backend::handlers::on_thumbnail;
use e2e_tests::standin::{ChannelMode, StandIn};
use e2e_tests::*;
use lambda_runtime::{Context, LambdaEvent};
use std::time::Instant;
use test_support::Moto;

#[derive(Default)]
struct Series {
    cpu: Vec<f64>,
    wall: Vec<f64>,
    /// Requests sent, per operation, over all events of the series.
    calls: std::collections::BTreeMap<String, u64>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, s: &mut Series) {
    let Series { cpu, wall, calls } = s;
    cpu.sort_by(f64::total_cmp);
    wall.sort_by(f64::total_cmp);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let events = cpu.len().max(1) as f64;
    let per_event: Vec<String> = calls
        .iter()
        .map(|(operation, n)| format!("{operation} {}", *n as f64 / events))
        .collect();
    let total: u64 = calls.values().sum();
    println!(
        "{name:<16} events={:<5} handler CPU ms/event: mean {:.3} p50 {:.3} p95 {:.3}   wall ms/event: p50 {:.2} p95 {:.2}   AWS calls/event: {} ({})",
        cpu.len(),
        mean(cpu),
        percentile(cpu, 0.5),
        percentile(cpu, 0.95),
        percentile(wall, 0.5),
        percentile(wall, 0.95),
        total as f64 / events,
        per_event.join(", "),
    );
}

fn main() -> anyhow::Result<()> {
    let mut events: usize = 300;
    let mut detect_latency = std::time::Duration::ZERO;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--detect-latency-ms" => {
                let ms: u64 = args.next().and_then(|v| v.parse().ok()).ok_or_else(|| {
                    anyhow::anyhow!("--detect-latency-ms needs milliseconds, e.g. 100")
                })?;
                detect_latency = std::time::Duration::from_millis(ms);
            }
            number => {
                events = number.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "{number:?}: give the number of events, or --detect-latency-ms MS"
                    )
                })?
            }
        }
    }

    // The stand-in on its own thread and runtime.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("stand-in runtime");
        rt.block_on(async move {
            let running = StandIn::start().await.expect("stand-in");
            tx.send((running.state.clone(), running.url.clone(), running.port))
                .expect("send");
            // Serve until the process exits.
            let _keep = running;
            std::future::pending::<()>().await;
        });
    });
    let (standin, standin_url, standin_port): (StandIn, String, u16) = rx.recv()?;
    let moto = Moto::start(standin_port)?;
    standin.set_detect_latency(detect_latency);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let clients = TestClients::new(&moto.url, &standin_url).await;
        clients.create_table("bench").await?;
        let machine = clients
            .create_state_machine(
                "bench",
                r#"{"StartAt":"Done","States":{"Done":{"Type":"Succeed"}}}"#,
            )
            .await?;
        let catalog = Catalog::from_json(
            &serde_json::json!({"products": (0..20).map(|i| serde_json::json!({
                "id": format!("product-{i}"), "labels": [format!("label-{i}")],
                "title": format!("Product {i}"), "price": "$10", "image_url": "p.png",
                "link_url": "https://shop.example.com/p", "min_confidence": 60,
                "display_seconds": 20, "cooldown_seconds": 60
            })).collect::<Vec<_>>()})
            .to_string(),
        )?;
        let clock = TestClock::at(1_790_000_000);
        let p = pipeline(
            &clients,
            "bench",
            &machine,
            &catalog,
            Rules::default(),
            clock.clone(),
        );

        // Warm up connections as the Lambda's init does.
        let warm = channel_arn("warm");
        standin.add_channel(&warm, ChannelMode::Live);
        for n in 0..5 {
            let key = thumbnail_key("warm", n);
            let _ = on_thumbnail(
                &p,
                LambdaEvent::new(s3_event("b", &[&key]), Context::default()),
            )
            .await;
        }

        // 1st thumbnail of a channel: the product shows. 2nd: already
        // showing. 3rd: no label. The calls each makes are counted.
        let cases: [(&str, &[(&str, f32)]); 3] = [
            ("show", &[("label-3", 90.0), ("label-7", 70.0)]),
            ("already showing", &[("label-3", 91.0)]),
            ("no label", &[]),
        ];
        let mut series: Vec<Series> = cases.iter().map(|_| Series::default()).collect();
        for i in 0..events {
            let id = format!("bench{i}");
            standin.add_channel(&channel_arn(&id), ChannelMode::Live);
            for (n, (_, labels)) in cases.iter().enumerate() {
                let key = thumbnail_key(&id, n as u32);
                standin.set_labels(&key, labels);
                let event = LambdaEvent::new(s3_event("b", &[&key]), Context::default());
                clients.calls.take();
                let (c0, w0) = (thread_cpu(), Instant::now());
                let report = on_thumbnail(&p, event).await?;
                series[n].cpu.push((thread_cpu() - c0).as_secs_f64() * 1e3);
                series[n].wall.push(w0.elapsed().as_secs_f64() * 1e3);
                for (operation, count) in clients.calls.take() {
                    *series[n].calls.entry(operation).or_default() += count;
                }
                anyhow::ensure!(report.failed == 0, "event failed: {report:?}");
                if n == 0 {
                    anyhow::ensure!(report.shown.len() == 1, "expected a show: {report:?}");
                }
            }
        }
        println!(
            "on-thumbnail handler, {events} channels x 3 thumbnails, catalog of 20 products, K=1, DetectCustomLabels answering after {} ms",
            detect_latency.as_millis()
        );
        for ((name, _), s) in cases.iter().zip(&mut series) {
            summary(name, s);
        }
        println!(
            "peak RSS of the process (handler + stand-in): {:.1} MiB",
            peak_rss_mib()
        );
        anyhow::Ok(())
    })
}
