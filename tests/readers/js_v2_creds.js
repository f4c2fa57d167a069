#!/usr/bin/env node
// Reads profiles from a credentials file with the AWS SDK for JavaScript v2
// (AWS.SharedIniFileCredentials), as Serverless Framework v3 does.
//
// Usage: node js_v2_creds.js CREDENTIALS_FILE PROFILE...
//
// Prints {"<profile>": {"access_key", "secret_key", "token", "method"}, ...} as JSON.
// On any error prints {"error": "<class>: <message>"} and exits 1.
// Exits 3 if the aws-sdk module is missing (run `bash scripts/test.sh` to install it).
'use strict';

process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1';
delete process.env.AWS_SDK_LOAD_CONFIG;

let AWS;
try {
  AWS = require('aws-sdk');
} catch (e) {
  process.stderr.write(`the aws-sdk module is not installed: ${e.message}\n`);
  process.exit(3);
}

function fail(e) {
  const name = (e && (e.code || e.name)) || 'Error';
  process.stdout.write(JSON.stringify({ error: `${name}: ${e && e.message}` }) + '\n');
  process.exit(1);
}

function read(name, filename) {
  return new Promise((resolve, reject) => {
    const creds = new AWS.SharedIniFileCredentials({ profile: name, filename });
    creds.get((err) => {
      if (err) {
        reject(err);
        return;
      }
      resolve({
        access_key: creds.accessKeyId,
        secret_key: creds.secretAccessKey,
        token: creds.sessionToken === undefined ? null : creds.sessionToken,
        method: 'SharedIniFileCredentials',
      });
    });
  });
}

async function main() {
  const [filename, ...profiles] = process.argv.slice(2);
  const result = {};
  for (const name of profiles) {
    result[name] = await read(name, filename);
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch(fail);
