"""Provisioning hosts over SSH for `shoal machine` (Docker Machine's generic driver, done right).

Modules: `ssh` (sessions with deadlines, verified host keys, no-tty commands, atomic uploads),
`hostkeys` (the host key policy and known_hosts format, pure), `facts` (what a host runs, pure
parsers), `store` (~/.shoal/machines/NAME/config.json), `errors` (one class per failure kind).

Importing this package imports nothing else: `provisioner.facts` and `provisioner.store` stay
usable without paramiko loaded. `provisioner` imports neither `manager` nor `agent`.
"""
