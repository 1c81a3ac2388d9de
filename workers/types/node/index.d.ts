// Stands in for @types/node when tsconfig.worker.json checks the code that runs in workerd: some
// libraries' declaration files (stripe's) reference `types="node"`, which would otherwise load
// every Node global (Buffer, process, NodeJS.*) into the Worker's program. Deliberately empty;
// what the Worker uses of Node under nodejs_compat is declared narrowly in ../node-crypto.d.ts.
export {}
