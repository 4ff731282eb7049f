// Where the stream goes: the IVS channels, their stream keys, and the
// recording configuration that writes their thumbnails (and recordings) to
// a private bucket.

import { Duration, Stack } from 'aws-cdk-lib';
import * as ivs from 'aws-cdk-lib/aws-ivs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { Settings } from '../settings.ts';
import { channelLogicalId, pin, PINNED_LOGICAL_IDS, privateBucket, streamKeyLogicalId } from './common.ts';

/** Where IVS writes (SEQUENTIAL storage) and the S3 filter that picks thumbnails. */
export const RECORDING_PREFIX = 'ivs/v1/';
export const THUMBNAIL_SUFFIX = '.jpg';
/** The thumbnails on-thumbnail may read (a recordings-bucket object pattern). */
export const THUMBNAIL_OBJECTS = `${RECORDING_PREFIX}*/media/thumbnails/*`;
/** What IVS writes when a recording ends: on-thumbnail turns it into the replay's cues.json. */
export const RECORDING_ENDED_SUFFIX = '/events/recording-ended.json';
export const RECORDING_ENDED_OBJECTS = `${RECORDING_PREFIX}*${RECORDING_ENDED_SUFFIX}`;
/** A recording's playlists and segments, and the cues.json written beside them (what a replay plays). */
export const REPLAY_OBJECTS = `${RECORDING_PREFIX}*/media/hls/*`;
export const REPLAY_CUES_OBJECTS = `${RECORDING_PREFIX}*/media/hls/cues.json`;
/** The published cues, kept for the replays (backend/src/replay.rs). */
export const CUE_LOG_PREFIX = 'cue-log/';
/** What on-thumbnail saw on each thumbnail, for the operator (backend/src/sightings_aws.rs). */
export const SIGHTINGS_PREFIX = 'sightings/';
/** The JSON index of the recordings that the stack's replays page reads. */
export const REPLAY_INDEX_KEY = 'recordings/index.json';

export class Recordings extends Construct {
  readonly bucket: s3.Bucket;
  readonly channels: ivs.CfnChannel[] = [];
  readonly streamKeys: ivs.CfnStreamKey[] = [];

  constructor(scope: Construct, id: string, props: { settings: Settings }) {
    super(scope, id);
    const s = props.settings;
    const stackName = Stack.of(this).stackName;
    // Recordings are the operator's data: `cdk destroy` keeps the bucket
    // (docs/deploy.md, Tear down, says how to delete it).
    this.bucket = privateBucket(
      this,
      'Default',
      {
        noAccessLogs: 'Access logs would need a second bucket; thumbnails are transient machine input, read only by the on-thumbnail function.',
        noVersions: 'IVS writes each thumbnail and segment once under a new key; versions would only keep expired objects longer.',
      },
      [
        {
          id: 'expire-recordings-and-thumbnails',
          prefix: RECORDING_PREFIX,
          expiration: Duration.days(s.retentionDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        {
          // The cue log expires with the recordings it times.
          id: 'expire-cue-log',
          prefix: CUE_LOG_PREFIX,
          expiration: Duration.days(s.retentionDays),
        },
        {
          // The operator's console reads the last minutes of them.
          id: 'expire-sightings',
          prefix: SIGHTINGS_PREFIX,
          expiration: Duration.days(1),
        },
      ],
    );
    pin(this.bucket, PINNED_LOGICAL_IDS.recordings);

    const recording = new ivs.CfnRecordingConfiguration(this, 'RecordingConfiguration', {
      destinationConfiguration: { s3: { bucketName: this.bucket.bucketName } },
      thumbnailConfiguration: {
        recordingMode: 'INTERVAL',
        targetIntervalSeconds: s.thumbnailIntervalSeconds,
        storage: ['SEQUENTIAL'],
        // The built-in detector is measured on 1280x720 frames; Rekognition
        // gets the full resolution.
        ...(s.detector === 'builtin' ? { resolution: 'HD' } : {}),
      },
      // A broadcaster who drops and reconnects within a minute stays in one
      // recording (one key prefix).
      recordingReconnectWindowSeconds: 60,
    });
    pin(recording, PINNED_LOGICAL_IDS.recordingConfiguration);

    for (let i = 1; i <= s.channels; i++) {
      const channel = new ivs.CfnChannel(this, `Channel${i}`, {
        name: `${stackName}-${i}`,
        type: s.channelType,
        latencyMode: 'LOW',
        recordingConfigurationArn: recording.attrArn,
      });
      pin(channel, channelLogicalId(i));
      this.channels.push(channel);
      // The channel resource creates no stream key; the key's value is never
      // an output (Outputs show the command that reads it).
      const key = new ivs.CfnStreamKey(this, `Channel${i}StreamKey`, { channelArn: channel.attrArn });
      pin(key, streamKeyLogicalId(i));
      this.streamKeys.push(key);
    }
  }
}
