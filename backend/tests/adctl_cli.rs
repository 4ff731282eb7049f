//! `adctl products`: the pre-deploy catalog check needs no AWS settings, and
//! a broken catalog fails naming the product, the field and the fix.

use std::path::Path;
use std::process::Command;

const ADCTL: &str = env!("CARGO_BIN_EXE_adctl");

#[test]
fn products_lists_the_demo_catalog_without_aws_settings() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../studio/demo/catalog.json");
    let out = Command::new(ADCTL)
        .args(["--catalog", &demo.to_string_lossy(), "products"])
        .env_remove("TABLE_NAME")
        .env_remove("STATE_MACHINE_ARN")
        .env_remove("AWS_REGION")
        .output()
        .expect("run adctl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect();
    assert_eq!(ids, ["kestrel", "lumen", "tidewater"]);
}

#[test]
fn products_refuses_a_broken_catalog_naming_the_field() {
    let temp = test_support::TempDir::new("adctl-cli").expect("scratch dir");
    let dir = temp.path();
    let bad = dir.join("catalog.json");
    std::fs::write(
        &bad,
        r#"{"products":[{"id":"mug","labels":["mug"],"title":"Mug","description":"","price":"$1","image_url":"mug.png","link_url":"http://shop.example/mug","min_confidence":70,"display_seconds":20,"cooldown_seconds":60}]}"#,
    )
    .expect("write");
    let out = Command::new(ADCTL)
        .args(["--catalog", &bad.to_string_lossy(), "products"])
        .output()
        .expect("run adctl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("link_url") && stderr.contains("https://"),
        "{stderr}"
    );
    let missing = Command::new(ADCTL)
        .args([
            "--catalog",
            &dir.join("none.json").to_string_lossy(),
            "products",
        ])
        .output()
        .expect("run adctl");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the catalog"));
}
