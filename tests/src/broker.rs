//! The test's own corner of RabbitMQ: a queue-name prefix, raw publishing
//! (duplicates, garbage), queue depths, and closing this test's connections
//! by name through the management API (other tests and a running demo
//! keep theirs). Queues of crashed runs are swept after two hours.

use anyhow::{Context, bail};
use common::broker::{Nodes, ORDER_ROUTING_KEY, Topology};
use lapin::options::{
    BasicGetOptions, BasicNackOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection};
use serde_json::Value;

pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// The management API's base URLs (`RABBITMQ_MANAGEMENT_URL`: one, or each
/// node of a cluster, comma-separated); any node answers for the cluster.
fn management_urls() -> Vec<String> {
    let urls = std::env::var("RABBITMQ_MANAGEMENT_URL").unwrap_or_else(|_| "http://127.0.0.1:15672".to_owned());
    urls.split(',').map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect()
}

pub struct TestBroker {
    pub topology: Topology,
    pub prefix: String,
    http: reqwest::Client,
}

impl TestBroker {
    pub fn new(prefix: &str, topology: Topology) -> Self {
        // A frozen cluster node accepts connections and answers nothing: bounded.
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build().unwrap_or_default();
        Self { topology, prefix: prefix.to_owned(), http }
    }

    async fn channel(&self) -> anyhow::Result<(Connection, lapin::Channel)> {
        // Not named after the prefix: `close_connections` closes those.
        let (conn, _) = Nodes::new(&amqp_url()).connect("warungin-test-harness").await?;
        let channel = conn.create_channel().await?;
        Ok((conn, channel))
    }

    /// GET `path` of the management API from the first node that answers.
    async fn management_get(&self, path: &str) -> anyhow::Result<Value> {
        let mut last_error = None;
        for base in management_urls() {
            match self.http.get(format!("{base}{path}")).basic_auth("guest", Some("guest")).send().await {
                Ok(response) if response.status().is_success() => return Ok(response.json().await?),
                Ok(response) => last_error = Some(anyhow::anyhow!("{base}{path}: {}", response.status())),
                Err(error) => last_error = Some(error.into()),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("RABBITMQ_MANAGEMENT_URL lists no URL")))
            .context("the RabbitMQ management API (plugin rabbitmq_management) is required")
    }

    /// DELETE `path` on the first node of the management API that answers.
    async fn management_delete(&self, path: &str, reason: &str) -> anyhow::Result<()> {
        let mut last_error = None;
        for base in management_urls() {
            let request = self.http.delete(format!("{base}{path}")).basic_auth("guest", Some("guest"));
            match request.header("X-Reason", reason).send().await {
                Ok(_) => return Ok(()),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.map_or_else(|| anyhow::anyhow!("RABBITMQ_MANAGEMENT_URL lists no URL"), Into::into))
    }

    /// Publish raw bytes onto the order exchange, confirmed.
    pub async fn publish_raw(&self, body: &[u8], properties: BasicProperties) -> anyhow::Result<()> {
        self.publish_raw_many(&[(body.to_vec(), properties)]).await
    }

    /// Publish raw messages onto the order exchange over one connection, each confirmed.
    pub async fn publish_raw_many(&self, messages: &[(Vec<u8>, BasicProperties)]) -> anyhow::Result<()> {
        self.publish_to(&self.topology.orders_exchange(), ORDER_ROUTING_KEY, messages).await
    }

    /// Publish raw messages onto `exchange` with `routing_key`, each confirmed.
    pub async fn publish_to(
        &self,
        exchange: &str,
        routing_key: &str,
        messages: &[(Vec<u8>, BasicProperties)],
    ) -> anyhow::Result<()> {
        let (conn, channel) = self.channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        let options = BasicPublishOptions { mandatory: true, ..Default::default() };
        let mut unconfirmed = 0;
        for (body, properties) in messages {
            let confirm = channel
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    options,
                    body,
                    properties.clone().with_delivery_mode(2),
                )
                .await?
                .await?;
            if !confirm.is_ack() || confirm.take_message().is_some() {
                unconfirmed += 1;
            }
        }
        let _ = conn.close(200, "done".into()).await;
        if unconfirmed > 0 {
            bail!("{unconfirmed} raw publishes were not confirmed");
        }
        Ok(())
    }

    /// Ready messages and consumers of a queue, live (passive declare).
    pub async fn depth(&self, queue: &str) -> anyhow::Result<(u32, u32)> {
        let (conn, channel) = self.channel().await?;
        let options = QueueDeclareOptions { passive: true, ..Default::default() };
        let queue = channel.queue_declare(queue.into(), options, FieldTable::default()).await?;
        let _ = conn.close(200, "done".into()).await;
        Ok((queue.message_count(), queue.consumer_count()))
    }

    /// Take a message from `queue` and give it back (`nack`, requeue), `times`
    /// times, as a consumer that keeps failing on it would: how many it got.
    pub async fn bounce(&self, queue: &str, times: usize) -> anyhow::Result<usize> {
        let (conn, channel) = self.channel().await?;
        let mut got = 0;
        for _ in 0..times {
            let Some(message) = channel.basic_get(queue.into(), BasicGetOptions::default()).await? else {
                break;
            };
            got += 1;
            message.delivery.acker.nack(BasicNackOptions { requeue: true, ..Default::default() }).await?;
        }
        let _ = conn.close(200, "done".into()).await;
        Ok(got)
    }

    /// Take every ready message off a queue (acknowledged: a publish that
    /// never made it, as far as the consumers can tell); their bodies.
    pub async fn take_ready(&self, queue: &str) -> anyhow::Result<Vec<Vec<u8>>> {
        let (conn, channel) = self.channel().await?;
        let mut bodies = Vec::new();
        let options = BasicGetOptions { no_ack: true };
        while let Some(message) = channel.basic_get(queue.into(), options).await? {
            bodies.push(message.delivery.data.clone());
        }
        let _ = conn.close(200, "done".into()).await;
        Ok(bodies)
    }

    /// Channels open now on the connection(s) named `client_name`, live
    /// from `rabbitmqctl` (the management API's counts lag by seconds).
    pub async fn channels_of(&self, client_name: &str) -> anyhow::Result<u64> {
        let output = tokio::process::Command::new("rabbitmqctl")
            .args(["list_connections", "client_properties", "channels", "--formatter", "json", "-q"])
            .output()
            .await
            .context("rabbitmqctl is needed to count a connection's channels")?;
        if !output.status.success() {
            bail!("rabbitmqctl failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let connections: Vec<Value> = serde_json::from_slice(&output.stdout)?;
        Ok(connections
            .iter()
            .filter(|c| connection_name(c) == Some(client_name))
            .filter_map(|c| c.get("channels").and_then(Value::as_u64))
            .sum())
    }

    /// Ready messages summed over every queue of this test's pipeline.
    pub async fn total_ready(&self) -> anyhow::Result<u32> {
        let mut total = 0;
        for queue in self.topology.all_queues() {
            total += self.depth(&queue).await?.0;
        }
        Ok(total)
    }

    /// This test's connections as the management API lists them: (broker name, client name).
    async fn connections(&self) -> anyhow::Result<Vec<(String, String)>> {
        let connections: Vec<Value> = serde_json::from_value(self.management_get("/api/connections").await?)?;
        Ok(connections
            .iter()
            .filter_map(|c| {
                let client = c.pointer("/client_properties/connection_name").and_then(Value::as_str)?;
                let name = c.get("name").and_then(Value::as_str)?;
                client.starts_with(&self.prefix).then(|| (name.to_owned(), client.to_owned()))
            })
            .collect())
    }

    /// This test's connections and the node each is on: (node, client name).
    pub async fn connections_by_node(&self) -> anyhow::Result<Vec<(String, String)>> {
        let connections: Vec<Value> = serde_json::from_value(self.management_get("/api/connections").await?)?;
        Ok(connections
            .iter()
            .filter_map(|c| {
                let client = c.pointer("/client_properties/connection_name").and_then(Value::as_str)?;
                let node = c.get("node").and_then(Value::as_str)?;
                client.starts_with(&self.prefix).then(|| (node.to_owned(), client.to_owned()))
            })
            .collect())
    }

    /// Close this test's broker connections (by their names' prefix), once
    /// at least `expected` of them are listed: the management API learns of
    /// new connections only with its next statistics round (every 5 s).
    pub async fn close_connections(&self, expected: usize) -> anyhow::Result<usize> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut listed = self.connections().await?;
        while listed.len() < expected && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            listed = self.connections().await?;
        }
        for (name, _) in &listed {
            self.management_delete(&format!("/api/connections/{}", encode(name)), "test fault injection").await?;
        }
        Ok(listed.len())
    }

    pub async fn delete(&self) {
        if let Ok((conn, channel)) = self.channel().await {
            let _ = self.topology.delete(&channel).await;
            let _ = conn.close(200, "done".into()).await;
        }
    }

    /// Delete queues and exchanges of test runs that crashed hours ago.
    pub async fn sweep(&self) {
        let cutoff = chrono::Utc::now().timestamp() - 7200;
        let Ok(Value::Array(queues)) = self.management_get("/api/queues").await else {
            return;
        };
        for name in queues.iter().filter_map(|q| q.get("name").and_then(Value::as_str)) {
            let stamp =
                name.strip_prefix("wt_").and_then(|rest| rest.split('_').next()).and_then(|t| t.parse::<i64>().ok());
            if stamp.is_some_and(|t| t < cutoff) {
                let _ = self.management_delete(&format!("/api/queues/%2f/{}", encode(name)), "stale test queue").await;
            }
        }
    }
}

/// The client's connection name in rabbitmqctl's JSON: `client_properties` is a list of `[key, type, value]`.
fn connection_name(connection: &Value) -> Option<&str> {
    let properties = connection.get("client_properties")?.as_array()?;
    let entry = properties.iter().find(|p| p.get(0).and_then(Value::as_str) == Some("connection_name"))?;
    entry.get(2)?.as_str()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
