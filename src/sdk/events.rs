//! Pushed events: asynchronous submission and typed streams of a job's events and the
//! fleet's (Server-Sent Events, parsed here).
//!
//! ```no_run
//! # async fn demo(client: osapi::sdk::Client) -> Result<(), osapi::sdk::SdkError> {
//! use futures::StreamExt;
//! use osapi::sdk::JobStreamEvent;
//! use osapi::wire::ops::NoInput;
//! use osapi::wire::ops::node::NodeUptimeGet;
//! let job = client.submit::<NodeUptimeGet>("_all", &NoInput {}).await?;
//! let mut events = client.job_events(&job.job_id).await?;
//! while let Some(event) = events.next().await {
//!     match event? {
//!         JobStreamEvent::Result(answer) => println!("{} answered", answer.hostname),
//!         JobStreamEvent::Done(done) => println!("{:?}", done.status),
//!         JobStreamEvent::Status(_) => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{Stream, StreamExt};
use reqwest::Method;

use super::typed::op_call;
use super::{check, Client, RawResponse, SdkError};
use crate::job::JobOutcome;
use crate::wire::events::{AcceptedJob, FleetEvent, JobStreamEvent};
use crate::wire::ops::Op;
use crate::wire::{Collection, HostItem, HostStatus};

/// A stream is read for as long as it lasts: the client's overall time limit does not
/// apply (a day stands for none).
const STREAM_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// Splits Server-Sent Events text into `(event, data)` pairs; comments and events without
/// data (keep-alives) are skipped.
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: String,
}

impl SseParser {
    /// Adds a chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<(String, String)> {
        self.buffer
            .push_str(&String::from_utf8_lossy(chunk).replace("\r\n", "\n"));
        let mut out = Vec::new();
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let (mut name, mut data) = (String::from("message"), Vec::new());
            for line in block.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "event" => name = value.to_owned(),
                    "data" => data.push(value),
                    _ => {}
                }
            }
            if !data.is_empty() {
                out.push((name, data.join("\n")));
            }
        }
        out
    }
}

impl Client {
    /// Submits any catalogue operation without waiting (`Prefer: respond-async`): the
    /// job id and where its events stream, as soon as the job is published.
    pub async fn submit<O: Op>(
        &self,
        target: &str,
        request: &O::Request,
    ) -> Result<AcceptedJob, SdkError> {
        check(self.submit_raw::<O>(target, request).await?)?.json()
    }

    /// Like [`Self::submit`], the answer undecoded.
    pub async fn submit_raw<O: Op>(
        &self,
        target: &str,
        request: &O::Request,
    ) -> Result<RawResponse, SdkError> {
        let (method, path, body) = op_call::<O>(target, request)?;
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("Prefer", "respond-async");
        if let Some(body) = &body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| self.transport(&e))?;
        Ok(RawResponse { status, body })
    }

    /// Runs any catalogue operation as a followed job: submitted without waiting, each
    /// host's answer taken from the job's event stream as it arrives (`on_event` sees
    /// every event, for live progress), the whole answer as [`Self::run`] gives it. No
    /// HTTP call stays open for the job's whole wait but the stream, which the server
    /// keeps alive, so a long job cannot hit a request time limit.
    ///
    /// Hosts that stayed silent or whose answer was refused are failed items.
    pub async fn run_followed<O: Op>(
        &self,
        target: &str,
        request: &O::Request,
        mut on_event: impl FnMut(&JobStreamEvent) + Send,
    ) -> Result<Collection<O::Item>, SdkError> {
        let accepted = self.submit::<O>(target, request).await?;
        let mut events = self.job_events(&accepted.job_id).await?;
        let mut answers = BTreeMap::new();
        let mut silent = BTreeMap::new();
        while let Some(event) = events.next().await {
            let event = event?;
            on_event(&event);
            match event {
                JobStreamEvent::Status(e) if e.event.as_str() == "failed" => {
                    let error = e.data["error"].as_str().unwrap_or("failed").to_owned();
                    silent.insert(e.hostname, error);
                }
                JobStreamEvent::Status(_) => {}
                JobStreamEvent::Result(answer) => {
                    silent.remove(&answer.hostname);
                    answers.insert(answer.hostname.clone(), answer);
                }
                JobStreamEvent::Done(_) => break,
            }
        }
        let outcome = JobOutcome {
            job_id: accepted.job_id,
            responses: answers.into_values().collect(),
            missing: Vec::new(),
        };
        let (mut collection, _) = Collection::<O::Item>::from_outcome(outcome, 0);
        // `_api` and `_agent` events are about the job, not a host.
        for (host, error) in silent.into_iter().filter(|(h, _)| !h.starts_with('_')) {
            let item = <O::Item as HostItem>::from_error(&host, HostStatus::Failed, error);
            collection.results.push(item);
        }
        collection
            .results
            .iter_mut()
            .for_each(HostItem::drop_payload_if_failed);
        Ok(collection)
    }

    /// `GET /api/job/{id}/events`: the job's events from its start (what already happened
    /// first), ending after [`JobStreamEvent::Done`].
    pub async fn job_events(
        &self,
        job_id: &str,
    ) -> Result<impl Stream<Item = Result<JobStreamEvent, SdkError>> + Send + Unpin, SdkError> {
        let path = format!("/api/job/{}/events", super::encode_segment(job_id));
        self.events(&path, JobStreamEvent::parse).await
    }

    /// `GET /api/events`: the fleet's events from now on, of the `kinds` given (names or
    /// families; all the caller may see when empty), for `target` when given. A
    /// `lagged` notice (the client fell behind) is an `Err`.
    pub async fn fleet_events(
        &self,
        kinds: &[&str],
        target: Option<&str>,
    ) -> Result<impl Stream<Item = Result<FleetEvent, SdkError>> + Send + Unpin, SdkError> {
        let mut query = Vec::new();
        if !kinds.is_empty() {
            query.push(format!("kind={}", super::encode_segment(&kinds.join(","))));
        }
        if let Some(t) = target {
            query.push(format!("target={}", super::encode_segment(t)));
        }
        let path = format!("/api/events?{}", query.join("&"));
        self.events(&path, |name, data| {
            if name == "lagged" {
                return Err(serde::de::Error::custom(format!("missed events: {data}")));
            }
            serde_json::from_str(data)
        })
        .await
    }

    /// Opens an event stream at `path`, each event decoded by `decode`.
    async fn events<T: Send + 'static>(
        &self,
        path: &str,
        decode: fn(&str, &str) -> serde_json::Result<T>,
    ) -> Result<impl Stream<Item = Result<T, SdkError>> + Send + Unpin, SdkError> {
        let resp = self
            .http
            .request(Method::GET, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(STREAM_LIMIT)
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            return Err(SdkError::from_response(status, &body));
        }
        let base = self.base.clone();
        let mut parser = SseParser::default();
        let events = resp.bytes_stream().flat_map(move |chunk| {
            let decoded: Vec<Result<T, SdkError>> = match chunk {
                Ok(bytes) => parser
                    .push(&bytes)
                    .into_iter()
                    .map(|(name, data)| {
                        decode(&name, &data)
                            .map_err(|e| SdkError::Decode(format!("{name} event: {e}")))
                    })
                    .collect(),
                Err(e) => vec![Err(SdkError::Transport {
                    url: base.clone(),
                    reason: e.to_string(),
                })],
            };
            futures::stream::iter(decoded)
        });
        Ok(Box::pin(events))
    }

    fn transport(&self, e: &dyn std::fmt::Display) -> SdkError {
        SdkError::Transport {
            url: self.base.clone(),
            reason: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_join_and_keep_alives_are_skipped() {
        let mut p = SseParser::default();
        assert!(p.push(b": keep-alive\n\nevent: star").is_empty());
        let got = p.push(b"ted\ndata: {\"a\":1}\n\nevent: done\r\ndata: x\r\ndata: y\r\n\r\n");
        assert_eq!(
            got,
            [
                ("started".to_owned(), "{\"a\":1}".to_owned()),
                ("done".to_owned(), "x\ny".to_owned())
            ]
        );
        assert_eq!(
            p.push(b"data:plain\n\n"),
            [("message".to_owned(), "plain".to_owned())]
        );
    }
}
