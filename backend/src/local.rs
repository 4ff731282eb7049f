//! Adapters for running the pipeline with no AWS at all (the studio's local
//! chain, benchmarks): channel state in memory, the built-in detector over
//! images in a folder, and the workflow as a timer task. The handlers and the
//! decision core are the very ones the Lambdas run.

use crate::decision::{ChannelState, Detection};
use crate::ports::{
    DetectError, Detector, ImageRef, SaveOutcome, ServiceError, StartError, StateStore, StoreError,
    WorkflowInput, WorkflowStarter,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Channel state in memory, with the same conditional-write contract as the
/// DynamoDB store.
#[derive(Default)]
pub struct MemoryStateStore {
    states: Mutex<HashMap<String, ChannelState>>,
}

#[async_trait]
impl StateStore for MemoryStateStore {
    async fn load(&self, channel_arn: &str) -> Result<ChannelState, StoreError> {
        let states = self
            .states
            .lock()
            .map_err(|_| StoreError::Service("state lock poisoned".into()))?;
        Ok(states.get(channel_arn).cloned().unwrap_or_default())
    }

    async fn save(
        &self,
        channel_arn: &str,
        state: &ChannelState,
        expected_version: u64,
    ) -> Result<SaveOutcome, StoreError> {
        let mut states = self
            .states
            .lock()
            .map_err(|_| StoreError::Service("state lock poisoned".into()))?;
        let current = states.get(channel_arn).map_or(0, |s| s.version);
        if current != expected_version {
            return Ok(SaveOutcome::Conflict);
        }
        if state.version <= expected_version {
            return Err(StoreError::Service(
                format!(
                    "version {} does not follow {expected_version}; decisions must move it forward",
                    state.version
                )
                .into(),
            ));
        }
        states.insert(channel_arn.to_owned(), state.clone());
        Ok(SaveOutcome::Saved)
    }
}

/// The built-in detector on images read from a folder: an [`ImageRef::S3`]
/// key is a path under `root` (the studio writes thumbnails under IVS's key
/// layout), the bucket is ignored.
pub struct FolderDetector {
    pub root: PathBuf,
    pub detector: Arc<crate::builtin::LiveBuiltin>,
}

#[async_trait]
impl Detector for FolderDetector {
    async fn detect(&self, image: &ImageRef) -> Result<Vec<Detection>, DetectError> {
        let ImageRef::S3 { key, .. } = image;
        if key.split('/').any(|part| part == "..") {
            return Err(DetectError::BadImage(
                format!("key {key:?} leaves the thumbnail folder").into(),
            ));
        }
        let path = self.root.join(key);
        let bytes = tokio::fs::read(&path).await.map_err(|e| {
            DetectError::BadImage(ServiceError::caused_by(
                format!("cannot read {}: {e}", path.display()),
                e,
            ))
        })?;
        self.detector.detect_bytes(bytes).await
    }

    async fn follow_catalog(&self, catalog: &ad_contract::Catalog) -> Result<(), DetectError> {
        self.detector.follow_for_port(catalog).await
    }
}

/// The workflow as a channel of start requests: whoever holds the receiver
/// runs the steps (the studio calls `handlers::on_tick` on a timer).
pub struct ChannelWorkflow(pub tokio::sync::mpsc::UnboundedSender<WorkflowInput>);

#[async_trait]
impl WorkflowStarter for ChannelWorkflow {
    async fn start(&self, input: &WorkflowInput) -> Result<(), StartError> {
        self.0
            .send(input.clone())
            .map_err(|_| StartError::Service("the local workflow runner has stopped".into()))
    }
}
