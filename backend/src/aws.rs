//! The edge traits over the AWS SDK. Every client honours the SDK's standard
//! endpoint settings (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), which is
//! how tests and the local studio point them at moto and the stand-ins.

use crate::decision::{BoundingBox, ChannelState, Detection, ProductState};
use crate::ports::{
    CuePublisher, DetectError, Detector, ImageRef, PublishError, SaveOutcome, ServiceError,
    StartError, StateStore, StoreError, WorkflowInput, WorkflowStarter,
};
use ad_contract::{ProductId, ShowId};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// "Code: message" for a service error, the full cause chain otherwise
/// (connection refused, timeouts), instead of the SDK's debug dump.
fn describe<E>(e: &E) -> String
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
    }
}

/// An SDK error as a port's [`ServiceError`]: its code and message, with
/// the error itself kept as the source.
fn service_error<E>(e: E) -> ServiceError
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + Send + Sync + 'static,
{
    ServiceError::caused_by(describe(&e), e)
}

/// The same, with what was being done in front (the object's address).
pub(crate) fn service_error_at<E>(context: &str, e: E) -> ServiceError
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + Send + Sync + 'static,
{
    ServiceError::caused_by(format!("{context}: {}", describe(&e)), e)
}

/// Channel state in DynamoDB: one item per channel (partition key `channel`,
/// the channel ARN), products in a map attribute. One item per channel, not
/// one per product, because "at most K products at once" is a rule about the
/// whole channel: with per-product items two thumbnails showing two different
/// products could both pass their own conditions. Every write is an UpdateItem
/// conditional on the version read, so concurrent invocations serialize.
pub struct DynamoStateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoStateStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A cheap call that opens the connection at init, so the first event
    /// does not pay for the TLS handshake. It is a GetItem of a key no
    /// channel has: the role is granted GetItem on this table already, and a
    /// warm-up must not need a grant of its own (DescribeTable would).
    pub async fn warm_up(&self) -> Result<(), StoreError> {
        /// Not a channel ARN, so no channel's item.
        const WARM_UP_KEY: &str = "warm-up";
        self.client
            .get_item()
            .table_name(&self.table)
            .key("channel", AttributeValue::S(WARM_UP_KEY.into()))
            .projection_expression("channel")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Service(service_error(e)))
    }
}

fn num(item: &HashMap<String, AttributeValue>, key: &str) -> Result<u64, String> {
    match item.get(key) {
        None => Ok(0),
        Some(AttributeValue::N(n)) => n
            .parse::<u64>()
            .map_err(|_| format!("{key} is {n:?}, not a whole number")),
        Some(_) => Err(format!("{key} is not a number")),
    }
}

fn item_to_state(item: &HashMap<String, AttributeValue>) -> Result<ChannelState, String> {
    let mut state = ChannelState {
        version: num(item, "version")?,
        lease_until: num(item, "lease_until")?,
        paused_until: num(item, "paused_until")?,
        ..ChannelState::default()
    };
    if let Some(w) = item.get("workflow") {
        state.workflow = w.as_s().map_err(|_| "workflow is not text")?.clone();
    }
    if let Some(products) = item.get("products") {
        let products = products.as_m().map_err(|_| "products is not a map")?;
        for (id, entry) in products {
            let id = ProductId::parse(id).map_err(|e| format!("product id {id:?} {e}"))?;
            let entry = entry
                .as_m()
                .map_err(|_| format!("products.{id} is not a map"))?;
            let confidence = match entry.get("confidence") {
                Some(AttributeValue::N(n)) => n.parse::<f32>().unwrap_or(0.0),
                _ => 0.0,
            };
            let shown_at = num(entry, "shown_at")?;
            state.products.insert(
                id,
                ProductState {
                    shown_at,
                    // Items written before shows had ids: the version that
                    // wrote them is gone, the clock of the show is close.
                    show: match entry.get("show") {
                        Some(_) => ShowId(num(entry, "show")?),
                        None => ShowId(shown_at.saturating_mul(1000)),
                    },
                    visible_until: num(entry, "visible_until")?,
                    cooldown_until: num(entry, "cooldown_until")?,
                    confidence,
                },
            );
        }
    }
    if let Some(sold) = item.get("sold_out") {
        let sold = sold.as_l().map_err(|_| "sold_out is not a list")?;
        for id in sold {
            let id = id
                .as_s()
                .map_err(|_| "sold_out holds a value that is not text")?;
            let id = ProductId::parse(id).map_err(|e| format!("sold_out id {id:?} {e}"))?;
            state.sold_out.insert(id);
        }
    }
    Ok(state)
}

fn sold_out_attr(state: &ChannelState) -> AttributeValue {
    AttributeValue::L(
        state
            .sold_out
            .iter()
            .map(|id| AttributeValue::S(id.as_str().to_owned()))
            .collect(),
    )
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn products_attr(state: &ChannelState) -> AttributeValue {
    AttributeValue::M(
        state
            .products
            .iter()
            .map(|(id, p)| {
                let entry = HashMap::from([
                    ("shown_at".to_owned(), n(p.shown_at)),
                    ("show".to_owned(), n(p.show.0)),
                    ("visible_until".to_owned(), n(p.visible_until)),
                    ("cooldown_until".to_owned(), n(p.cooldown_until)),
                    ("confidence".to_owned(), n(p.confidence)),
                ]);
                (id.to_string(), AttributeValue::M(entry))
            })
            .collect(),
    )
}

#[async_trait]
impl StateStore for DynamoStateStore {
    async fn load(&self, channel_arn: &str) -> Result<ChannelState, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("channel", AttributeValue::S(channel_arn.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Service(service_error(e)))?;
        match out.item {
            None => Ok(ChannelState::default()),
            Some(item) => item_to_state(&item).map_err(|problem| StoreError::Malformed {
                channel: channel_arn.into(),
                problem,
            }),
        }
    }

    async fn save(
        &self,
        channel_arn: &str,
        state: &ChannelState,
        expected_version: u64,
    ) -> Result<SaveOutcome, StoreError> {
        let condition = if expected_version == 0 {
            "attribute_not_exists(#v)"
        } else {
            "#v = :expected"
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("channel", AttributeValue::S(channel_arn.into()))
            .update_expression(
                "SET #v = :v, products = :p, workflow = :w, lease_until = :l, paused_until = :pu, sold_out = :so, expires_at = :e",
            )
            .condition_expression(condition)
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", n(state.version))
            .expression_attribute_values(":p", products_attr(state))
            .expression_attribute_values(":w", AttributeValue::S(state.workflow.clone()))
            .expression_attribute_values(":l", n(state.lease_until))
            .expression_attribute_values(":pu", n(state.paused_until))
            .expression_attribute_values(":so", sold_out_attr(state))
            .expression_attribute_values(":e", n(state.expires_at()));
        if expected_version != 0 {
            request = request.expression_attribute_values(":expected", n(expected_version));
        }
        match request.send().await {
            Ok(_) => Ok(SaveOutcome::Saved),
            Err(e) => match e.into_service_error() {
                aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(_) => {
                    Ok(SaveOutcome::Conflict)
                }
                other => Err(StoreError::Service(service_error(other))),
            },
        }
    }
}

/// IVS PutMetadata. The client is built with the SDK's own retries off: the
/// handlers retry throttling themselves, bounded and jittered, and must see
/// every ChannelNotBroadcasting at once.
pub struct IvsPublisher {
    client: aws_sdk_ivs::Client,
}

impl IvsPublisher {
    pub fn new(client: aws_sdk_ivs::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl CuePublisher for IvsPublisher {
    async fn put_metadata(&self, channel_arn: &str, metadata: &str) -> Result<(), PublishError> {
        use aws_sdk_ivs::operation::put_metadata::PutMetadataError as E;
        match self
            .client
            .put_metadata()
            .channel_arn(channel_arn)
            .metadata(metadata)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(match e.into_service_error() {
                E::ThrottlingException(e) => PublishError::Throttled(service_error(e)),
                E::ChannelNotBroadcasting(e) => PublishError::NotBroadcasting(service_error(e)),
                E::ValidationException(e) => PublishError::Invalid(service_error(e)),
                other => PublishError::Other(service_error(other)),
            }),
        }
    }
}

/// Rekognition Custom Labels DetectCustomLabels on the thumbnail in S3.
pub struct RekognitionDetector {
    client: aws_sdk_rekognition::Client,
    project_version_arn: String,
    /// Passed as MinConfidence: the lowest `min_confidence` in the catalog, so
    /// Rekognition's own default threshold never hides a label the catalog
    /// would accept. An `f32`'s bits: it follows the live catalog.
    min_confidence: std::sync::atomic::AtomicU32,
}

impl RekognitionDetector {
    pub fn new(
        client: aws_sdk_rekognition::Client,
        project_version_arn: impl Into<String>,
        min_confidence: f32,
    ) -> Self {
        Self {
            client,
            project_version_arn: project_version_arn.into(),
            min_confidence: std::sync::atomic::AtomicU32::new(min_confidence.to_bits()),
        }
    }

    /// The `MinConfidence` each call sends now.
    pub fn min_confidence(&self) -> f32 {
        f32::from_bits(
            self.min_confidence
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }
}

#[async_trait]
impl Detector for RekognitionDetector {
    async fn detect(&self, image: &ImageRef) -> Result<Vec<Detection>, DetectError> {
        use aws_sdk_rekognition::operation::detect_custom_labels::DetectCustomLabelsError as E;
        use aws_sdk_rekognition::types::{Image, S3Object};
        let ImageRef::S3 { bucket, key } = image;
        let image = Image::builder()
            .s3_object(S3Object::builder().bucket(bucket).name(key).build())
            .build();
        let out = self
            .client
            .detect_custom_labels()
            .project_version_arn(&self.project_version_arn)
            .image(image)
            .min_confidence(self.min_confidence())
            .send()
            .await
            .map_err(|e| match e.into_service_error() {
                E::ResourceNotReadyException(e) => DetectError::ModelNotReady(service_error(e)),
                E::ImageTooLargeException(e) => DetectError::BadImage(service_error(e)),
                E::InvalidImageFormatException(e) => DetectError::BadImage(service_error(e)),
                E::InvalidS3ObjectException(e) => DetectError::BadImage(service_error(e)),
                other => DetectError::Other(service_error(other)),
            })?;
        Ok(out
            .custom_labels()
            .iter()
            .filter_map(|l| {
                Some(Detection {
                    label: l.name()?.to_owned(),
                    confidence: l.confidence()?,
                    bounding_box: l.geometry().and_then(|g| g.bounding_box()).map(|b| {
                        BoundingBox {
                            left: b.left().unwrap_or(0.0),
                            top: b.top().unwrap_or(0.0),
                            width: b.width().unwrap_or(0.0),
                            height: b.height().unwrap_or(0.0),
                        }
                    }),
                })
            })
            .collect())
    }

    /// A catalog change may lower a product's minimum: Rekognition's
    /// threshold follows the lowest, so it never hides a label the new
    /// catalog accepts (a raised one only filters more on our side).
    async fn follow_catalog(&self, catalog: &ad_contract::Catalog) -> Result<(), DetectError> {
        let lowest = crate::live_catalog::lowest_min_confidence(catalog);
        self.min_confidence
            .store(lowest.to_bits(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// The built-in detector on the thumbnail in S3 (`DETECTOR=builtin`): no
/// model to host; the references are analysed once per Lambda instance.
pub struct S3BuiltinDetector {
    pub s3: aws_sdk_s3::Client,
    pub detector: std::sync::Arc<crate::builtin::LiveBuiltin>,
}

/// Thumbnails are at most a few hundred KB; anything this big is not one.
const MAX_IMAGE_BYTES: i64 = 15 * 1024 * 1024;

impl S3BuiltinDetector {
    /// Reads an object whole, refusing objects over the image size cap.
    pub async fn read_object(
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<u8>, DetectError> {
        use aws_sdk_s3::operation::get_object::GetObjectError as E;
        let at = format!("s3://{bucket}/{key}");
        let out = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| match e.into_service_error() {
                E::NoSuchKey(e) => DetectError::BadImage(service_error_at(&at, e)),
                other => DetectError::Other(service_error_at(&at, other)),
            })?;
        if out.content_length().unwrap_or(0) > MAX_IMAGE_BYTES {
            return Err(DetectError::BadImage(
                format!(
                    "{at} is {} bytes; images over {MAX_IMAGE_BYTES} bytes are not analysed",
                    out.content_length().unwrap_or(0)
                )
                .into(),
            ));
        }
        read_body_bounded(out.body, MAX_IMAGE_BYTES as u64)
            .await
            .map_err(|e| {
                DetectError::Other(ServiceError::caused_by(
                    format!("{at}: reading the body: {e}"),
                    e,
                ))
            })?
            .ok_or_else(|| {
                DetectError::BadImage(
                    format!(
                        "{at} is over {MAX_IMAGE_BYTES} bytes; images that large are not analysed"
                    )
                    .into(),
                )
            })
    }
}

/// An S3 object's bytes and ETag; `None` when there is no such object, an
/// error over `limit` bytes (counted as they arrive).
pub async fn get_object_bounded(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    limit: u64,
) -> Result<Option<(Vec<u8>, String)>, ServiceError> {
    use aws_sdk_s3::operation::get_object::GetObjectError as E;
    let at = format!("s3://{bucket}/{key}");
    let out = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(e) => {
            if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) {
                return Ok(None);
            }
            return match e.into_service_error() {
                E::NoSuchKey(_) => Ok(None),
                other => Err(service_error_at(&at, other)),
            };
        }
    };
    let etag = out.e_tag().unwrap_or_default().to_owned();
    let bytes = read_body_bounded(out.body, limit)
        .await
        .map_err(|e| ServiceError::caused_by(format!("{at}: reading the body: {e}"), e))?
        .ok_or_else(|| ServiceError::from(format!("{at} is over {limit} bytes")))?;
    Ok(Some((bytes, etag)))
}

/// Reads an S3 object's body, counting the bytes as they arrive, so that a
/// response without Content-Length (or with a wrong one) cannot make the
/// read unbounded. `None` once it passes `max` bytes.
pub async fn read_body_bounded(
    mut body: aws_sdk_s3::primitives::ByteStream,
    max: u64,
) -> Result<Option<Vec<u8>>, aws_sdk_s3::primitives::ByteStreamError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if (bytes.len() + chunk.len()) as u64 > max {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

#[async_trait]
impl Detector for S3BuiltinDetector {
    async fn detect(&self, image: &ImageRef) -> Result<Vec<Detection>, DetectError> {
        let ImageRef::S3 { bucket, key } = image;
        let bytes = Self::read_object(&self.s3, bucket, key).await?;
        self.detector.detect_bytes(bytes).await
    }

    async fn follow_catalog(&self, catalog: &ad_contract::Catalog) -> Result<(), DetectError> {
        self.detector.follow_for_port(catalog).await
    }
}

/// The live catalog as an S3 object (in a versioned bucket, so every
/// version can be restored): read with `If-None-Match` on the ETag the
/// function has, so an unchanged catalog is a 304 with no body.
pub struct S3CatalogSource {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub key: String,
}

#[async_trait]
impl crate::live_catalog::CatalogSource for S3CatalogSource {
    async fn read_if_changed(
        &self,
        known: &str,
    ) -> Result<Option<crate::live_catalog::CatalogText>, ServiceError> {
        let at = format!("s3://{}/{}", self.bucket, self.key);
        let result = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .if_none_match(known)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                if e.raw_response().is_some_and(|r| r.status().as_u16() == 304) {
                    return Ok(None);
                }
                return Err(service_error_at(&at, e.into_service_error()));
            }
        };
        let version = out.e_tag().unwrap_or_default().to_owned();
        let limit = ad_contract::catalog::MAX_CATALOG_BYTES as u64;
        let bytes = read_body_bounded(out.body, limit)
            .await
            .map_err(|e| ServiceError::caused_by(format!("{at}: reading the body: {e}"), e))?
            .ok_or_else(|| {
                ServiceError::from(format!("{at} is over {limit} bytes, the catalog's limit"))
            })?;
        let text = String::from_utf8(bytes)
            .map_err(|e| ServiceError::caused_by(format!("{at} is not UTF-8 text"), e))?;
        Ok(Some(crate::live_catalog::CatalogText { version, text }))
    }
}

/// Where the operator's reference images are kept, beside the catalog.
pub const REFERENCES_PREFIX: &str = "references/";

#[async_trait]
impl crate::live_catalog::CatalogHistory for S3CatalogSource {
    async fn save(&self, text: &str) -> Result<crate::live_catalog::Saved, ServiceError> {
        let at = format!("s3://{}/{}", self.bucket, self.key);
        let out = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type("application/json")
            // Players re-read it through CloudFront (whose own TTL is short);
            // browsers revalidate every time.
            .cache_control("no-cache")
            .body(text.as_bytes().to_vec().into())
            .send()
            .await
            .map_err(|e| service_error_at(&at, e.into_service_error()))?;
        // Without versioning on the bucket there is no id: the stack turns
        // it on, and a missing id is said, not hidden.
        Ok(crate::live_catalog::Saved {
            id: out
                .version_id()
                .unwrap_or("(bucket not versioned)")
                .to_owned(),
            etag: out.e_tag().unwrap_or_default().to_owned(),
        })
    }

    async fn versions(
        &self,
        limit: usize,
    ) -> Result<Vec<crate::live_catalog::SavedVersion>, ServiceError> {
        let at = format!("s3://{}/{}", self.bucket, self.key);
        let out = self
            .s3
            .list_object_versions()
            .bucket(&self.bucket)
            .prefix(&self.key)
            .max_keys(i32::try_from(limit.min(1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(|e| service_error_at(&at, e.into_service_error()))?;
        let mut versions: Vec<_> = out
            .versions()
            .iter()
            // The prefix matches longer keys too.
            .filter(|v| v.key() == Some(self.key.as_str()))
            .map(|v| crate::live_catalog::SavedVersion {
                id: v.version_id().unwrap_or_default().to_owned(),
                saved_at: v.last_modified().map(|t| t.to_string()).unwrap_or_default(),
                bytes: u64::try_from(v.size().unwrap_or(0)).unwrap_or(0),
                latest: v.is_latest().unwrap_or(false),
            })
            .collect();
        versions.sort_by(|a, b| b.saved_at.cmp(&a.saved_at).then(b.latest.cmp(&a.latest)));
        versions.truncate(limit);
        Ok(versions)
    }

    async fn version(&self, id: &str) -> Result<Option<String>, ServiceError> {
        use aws_sdk_s3::operation::get_object::GetObjectError as E;
        let at = format!("s3://{}/{} version {id}", self.bucket, self.key);
        let result = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .version_id(id)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                // S3 answers an unknown version id with 400 InvalidArgument
                // or 404 NoSuchVersion; both mean "no such version".
                let status = e.raw_response().map(|r| r.status().as_u16());
                if matches!(status, Some(400 | 404)) {
                    return Ok(None);
                }
                return match e.into_service_error() {
                    E::NoSuchKey(_) => Ok(None),
                    other => Err(service_error_at(&at, other)),
                };
            }
        };
        let limit = ad_contract::catalog::MAX_CATALOG_BYTES as u64;
        let bytes = read_body_bounded(out.body, limit)
            .await
            .map_err(|e| ServiceError::caused_by(format!("{at}: reading the body: {e}"), e))?
            .ok_or_else(|| ServiceError::from(format!("{at} is over {limit} bytes")))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| ServiceError::caused_by(format!("{at} is not UTF-8 text"), e))
    }

    async fn save_reference(&self, name: &str, bytes: &[u8]) -> Result<String, ServiceError> {
        let key = format!("{REFERENCES_PREFIX}{name}");
        let at = format!("s3://{}/{key}", self.bucket);
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(bytes.to_vec().into())
            .send()
            .await
            .map_err(|e| service_error_at(&at, e.into_service_error()))?;
        Ok(at)
    }
}

/// Step Functions StartExecution of the generic workflow.
pub struct SfnWorkflow {
    client: aws_sdk_sfn::Client,
    state_machine_arn: String,
}

impl SfnWorkflow {
    pub fn new(client: aws_sdk_sfn::Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }
}

#[async_trait]
impl WorkflowStarter for SfnWorkflow {
    async fn start(&self, input: &WorkflowInput) -> Result<(), StartError> {
        use aws_sdk_sfn::operation::start_execution::StartExecutionError as E;
        let body = serde_json::to_string(input).map_err(StartError::Input)?;
        match self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(&input.execution)
            .input(body)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                // The same name is already running or ran: the start happened.
                E::ExecutionAlreadyExists(_) => Ok(()),
                other => Err(StartError::Service(service_error(other))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn bodies_are_read_only_up_to_the_bound() {
        use aws_sdk_s3::primitives::ByteStream;
        let read = |n: usize, max: u64| read_body_bounded(ByteStream::from(vec![7u8; n]), max);
        assert_eq!(
            read(100, 100).await.ok().flatten().map(|b| b.len()),
            Some(100)
        );
        assert_eq!(read(101, 100).await.ok(), Some(None));
        assert_eq!(read(0, 0).await.ok().flatten(), Some(Vec::new()));
    }

    use super::*;

    #[test]
    fn state_survives_the_item_round_trip() {
        let mut state = ChannelState {
            version: 7,
            workflow: "c-1-2".into(),
            lease_until: 99,
            paused_until: 120,
            sold_out: [ProductId::parse("cap").unwrap()].into(),
            ..ChannelState::default()
        };
        state.products.insert(
            ProductId::parse("mug").unwrap(),
            ProductState {
                shown_at: 1,
                show: ShowId(1_000),
                visible_until: 21,
                cooldown_until: 81,
                confidence: 93.5,
            },
        );
        let item = HashMap::from([
            ("version".to_owned(), n(7)),
            ("workflow".to_owned(), AttributeValue::S("c-1-2".into())),
            ("lease_until".to_owned(), n(99)),
            ("paused_until".to_owned(), n(120)),
            ("products".to_owned(), products_attr(&state)),
            ("sold_out".to_owned(), sold_out_attr(&state)),
        ]);
        assert_eq!(item_to_state(&item).unwrap(), state);
        // An item written before sold out existed has none.
        let mut older = item.clone();
        older.remove("sold_out");
        assert!(item_to_state(&older).unwrap().sold_out.is_empty());
        // An item written before pauses existed reads as not paused.
        let mut older = item.clone();
        older.remove("paused_until");
        assert_eq!(item_to_state(&older).unwrap().paused_until, 0);
    }

    #[test]
    fn a_hand_edited_item_is_reported_not_panicked_on() {
        let item = HashMap::from([("version".to_owned(), AttributeValue::S("x".into()))]);
        assert!(item_to_state(&item).unwrap_err().contains("version"));
        let item = HashMap::from([(
            "products".to_owned(),
            AttributeValue::M(HashMap::from([(
                "Bad Id".to_owned(),
                AttributeValue::M(HashMap::new()),
            )])),
        )]);
        assert!(item_to_state(&item).unwrap_err().contains("Bad Id"));
    }
}
