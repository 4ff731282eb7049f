// What shows on each channel and until when (the state table), and the one
// generic workflow that re-sends a channel's cue and clears it at the end of
// the window.

import * as fs from 'node:fs';
import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { WORKFLOW_DEFINITION } from '../repo.ts';
import { type Alarms, FIVE_MINUTES, pin, PINNED_LOGICAL_IDS, suppressCheckov } from './common.ts';

/** What on-thumbnail and on-tick do to the state table. */
export const TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:UpdateItem'];

export class StateAndWorkflow extends Construct {
  readonly table: dynamodb.Table;
  /**
   * The workflow's ARN, built from its fixed name: on-tick must know it (its
   * config requires STATE_MACHINE_ARN) while the workflow must know
   * on-tick's ARN, and a token reference both ways would be a cycle.
   */
  readonly stateMachineArn: string;
  private readonly stateMachineName: string;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const stack = Stack.of(this);
    this.table = new dynamodb.Table(this, 'Default', {
      partitionKey: { name: 'channel', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expires_at',
      // Display state only (what shows, cooldowns); it rebuilds itself.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    pin(this.table, PINNED_LOGICAL_IDS.stateTable);
    suppressCheckov(this.table, {
      CKV_AWS_119: 'Holds which product shows on which channel and until when: no personal or secret data; encrypted at rest with the AWS-owned key.',
    });
    this.stateMachineName = `${stack.stackName}-republish`;
    this.stateMachineArn = stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: this.stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }

  /** The workflow, each step of which is `tick` (on-tick), with its alarm. */
  workflow(tick: lambda.Function, alarms: Alarms): sfn.StateMachine {
    const workflow = new sfn.StateMachine(this, 'Republish', {
      stateMachineName: this.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      // Inline (not an S3 asset), so the template is complete and linted whole.
      definitionBody: sfn.DefinitionBody.fromString(fs.readFileSync(WORKFLOW_DEFINITION, 'utf8')),
      definitionSubstitutions: { TickFunctionArn: tick.functionArn },
    });
    pin(workflow, PINNED_LOGICAL_IDS.workflow);
    tick.grantInvoke(workflow);
    alarms.add(this, 'RepublishFailed', workflow.metricFailed(FIVE_MINUTES), 'a re-publishing workflow execution failed.');
    return workflow;
  }
}
