package main

import (
	"context"
	"errors"
	"flag"
	"io/fs"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/daemon"
)

// commonFlags are the flags every command that touches a store takes.
type commonFlags struct {
	config  *string
	dataDir *string
	getenv  func(string) string
}

func addCommonFlags(fs *flag.FlagSet, env *cmdEnv) commonFlags {
	return commonFlags{
		config:  fs.String("config", "", "configuration file (default "+config.DefaultPath+" if it exists)"),
		dataDir: fs.String("data-dir", "", "data directory: database, key file, control socket (default $SMSD_DATA_DIR, else the config's, else "+config.DefaultDataDir+")"),
		getenv:  env.getenv,
	}
}

// load reads the configuration and applies, over it, SMSD_DATA_DIR and then
// the flags: flag over environment over file over default.
func (c commonFlags) load() (config.Config, error) {
	cfg, err := config.Load(*c.config)
	if err != nil {
		return cfg, err
	}
	if d := c.getenv("SMSD_DATA_DIR"); d != "" {
		cfg.DataDir = d
	}
	if *c.dataDir != "" {
		cfg.DataDir = *c.dataDir
	}
	return cfg, cfg.Validate()
}

// connect loads the configuration and reaches the appliance: the running
// daemon, else the store directly, as the person at this shell.
//
// A member of the admin group may not read the default config file (it can
// hold the SIM PIN): the defaults then stand in, which name the packaged
// control socket, where the daemon accepts such a member as themselves.
func (c commonFlags) connect(ctx context.Context, env *cmdEnv) (*daemon.Conn, error) {
	cfg, err := c.load()
	if err != nil && *c.config == "" && errors.Is(err, fs.ErrPermission) {
		cfg, err = config.Default(), nil
		if d := c.getenv("SMSD_DATA_DIR"); d != "" {
			cfg.DataDir = d
		}
		if *c.dataDir != "" {
			cfg.DataDir = *c.dataDir
		}
		err = cfg.Validate()
	}
	if err != nil {
		return nil, err
	}
	conn, err := daemon.Connect(ctx, cfg, daemon.Shell())
	if err != nil {
		return nil, err
	}
	return conn, nil
}
