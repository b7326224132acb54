// A @grpc/grpc-js reflection client for ReflectionTests: lists the services over
// grpc.reflection.<version> and decodes the FileDescriptorProto files returned for a symbol with
// protobufjs's descriptor extension. Prints JSON.
// Usage: node reflection_client.js HOST:PORT VERSION SYMBOL
'use strict';
const path = require('path');

const repoRoot = path.resolve(__dirname, '..', '..', '..');
const modules = path.join(repoRoot, 'tools', 'node', 'node_modules');
const grpc = require(path.join(modules, '@grpc', 'grpc-js'));
const protoLoader = require(path.join(modules, '@grpc', 'proto-loader'));
const descriptor = require(path.join(modules, 'protobufjs', 'ext', 'descriptor'));

const [target, version, symbol] = process.argv.slice(2);
const def = protoLoader.loadSync(path.join(__dirname, '..', 'Protos', 'grpc', 'reflection', version, 'reflection.proto'),
  { keepCase: true, defaults: true });
const pkg = grpc.loadPackageDefinition(def).grpc.reflection[version];
const client = new pkg.ServerReflection(target, grpc.credentials.createInsecure());
const call = client.ServerReflectionInfo({ deadline: new Date(Date.now() + 30000) });
const answers = [];
call.on('data', (m) => answers.push(m));
call.on('error', (e) => { console.error(`reflection failed: ${e.code} ${e.details}`); process.exit(1); });
call.on('end', () => {
  const services = answers[0].list_services_response.service.map((s) => s.name).sort();
  const files = answers[1].file_descriptor_response.file_descriptor_proto.map((b) => descriptor.FileDescriptorProto.decode(b));
  console.log(JSON.stringify({
    services,
    files: files.map((f) => f.name),
    file_services: files[0].service.map((s) => ({ name: s.name, methods: s.method.map((m) => m.name) })),
    error_code: answers[2].error_response ? answers[2].error_response.error_code : 0,
  }));
  client.close();
});
call.write({ list_services: '' });
call.write({ file_containing_symbol: symbol });
call.write({ file_containing_symbol: 'no.such.Symbol' });
call.end();
