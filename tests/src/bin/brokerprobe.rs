//! The broker's limit, for the benchmark: persistent messages of the order
//! message's size, published with confirms by `--publishers` concurrent
//! publishers (one channel each, like ingest) to a quorum queue declared
//! exactly like the order queue, for `--seconds`. Prints confirmed/s.

use clap::Parser;
use common::broker::Topology;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueuePurgeOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    #[arg(long, default_value_t = 32)]
    publishers: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 600)]
    size: usize,
    #[arg(long, default_value = "brokerprobe")]
    prefix: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let connection = Connection::connect(&args.amqp_url, ConnectionProperties::default()).await?;
    let topology = Topology::new(&args.prefix, vec![Duration::from_secs(1)], 20);
    let setup = connection.create_channel().await?;
    topology.declare(&connection).await?;
    let confirmed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let body = Arc::new(vec![b'x'; args.size]);
    let mut tasks = Vec::new();
    // One channel per publisher, one publish in flight each: the load generator's concurrency.
    for _ in 0..args.publishers {
        let channel = connection.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        let (confirmed, body, exchange) = (confirmed.clone(), body.clone(), topology.orders_exchange());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let options = BasicPublishOptions { mandatory: true, ..Default::default() };
                let properties = BasicProperties::default().with_delivery_mode(2);
                let published =
                    channel.basic_publish(exchange.as_str().into(), "order".into(), options, &body, properties).await;
                if let Ok(confirm) = published
                    && matches!(confirm.await, Ok(c) if c.is_ack())
                {
                    confirmed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let rate = confirmed.load(Ordering::Relaxed) as f64 / args.seconds as f64;
    println!("{{\"confirmed_per_s\": {rate:.0}, \"publishers\": {}, \"size\": {}}}", args.publishers, args.size);
    let _ = setup.queue_purge(topology.orders_queue().as_str().into(), QueuePurgeOptions::default()).await;
    let _ = topology.delete(&setup).await;
    Ok(())
}
