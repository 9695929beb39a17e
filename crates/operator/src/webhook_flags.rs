//! The webhook server's flags (the server is `crate::webhook`), apart from it so the command
//! line does not depend on the server.

/// Webhook flags; names and environment variables follow shell-operator's.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookArgs {
    /// Name of the ValidatingWebhookConfiguration and of the MutatingWebhookConfiguration.
    #[arg(
        long,
        env = "VALIDATING_WEBHOOK_CONFIGURATION_NAME",
        default_value = "addon-operator-hooks"
    )]
    pub validating_webhook_configuration_name: String,

    /// Service (in the operator namespace) in front of the admission webhook port.
    #[arg(
        long,
        env = "VALIDATING_WEBHOOK_SERVICE_NAME",
        default_value = "addon-operator-validating-svc"
    )]
    pub validating_webhook_service_name: String,

    /// Address of the admission webhook HTTPS server.
    #[arg(
        long,
        env = "VALIDATING_WEBHOOK_LISTEN_ADDRESS",
        default_value = "0.0.0.0"
    )]
    pub validating_webhook_listen_address: String,

    /// Port of the admission webhook HTTPS server.
    #[arg(long, env = "VALIDATING_WEBHOOK_LISTEN_PORT", default_value_t = 9680)]
    pub validating_webhook_listen_port: u16,

    /// Service (in the operator namespace) in front of the conversion webhook port.
    #[arg(
        long,
        env = "CONVERSION_WEBHOOK_SERVICE_NAME",
        default_value = "addon-operator-conversion-svc"
    )]
    pub conversion_webhook_service_name: String,

    /// Address of the conversion webhook HTTPS server.
    #[arg(
        long,
        env = "CONVERSION_WEBHOOK_LISTEN_ADDRESS",
        default_value = "0.0.0.0"
    )]
    pub conversion_webhook_listen_address: String,

    /// Port of the conversion webhook HTTPS server.
    #[arg(long, env = "CONVERSION_WEBHOOK_LISTEN_PORT", default_value_t = 9681)]
    pub conversion_webhook_listen_port: u16,

    /// A `kubernetes.io/tls` Secret in the operator namespace (`tls.crt`, `tls.key`,
    /// `ca.crt`) to serve webhooks with; it is read, never written. Without it a CA and a
    /// serving certificate are generated into Secret `addon-operator-webhook-tls`.
    #[arg(long, env = "ADDON_OPERATOR_WEBHOOK_TLS_SECRET")]
    pub webhook_tls_secret: Option<String>,

    /// Seconds a generated serving certificate is valid; it is renewed after two thirds.
    #[arg(
        long,
        env = "ADDON_OPERATOR_WEBHOOK_CERT_VALIDITY",
        default_value_t = 31_536_000.0
    )]
    pub webhook_cert_validity: f64,
}
