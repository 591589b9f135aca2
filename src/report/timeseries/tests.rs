use super::*;

/// Every line of every file has as many cells as its header, and every
/// count cell is an integer.
#[test]
fn each_kind_has_its_own_columns_and_integer_counts() {
    use crate::kernel::SimTime;
    let row = |kind, entity| WindowRow {
        start: SimTime::ZERO,
        end: SimTime::ZERO,
        kind,
        entity,
        counts: Counts {
            requests: 3,
            ..Counts::default()
        },
        latency_ms_p50: None,
        latency_ms_p99: None,
        in_flight: 1,
        queue_length: Some(1),
        breakers_open: None,
    };
    let mut csv = CsvRecorder::new(Vec::new(), Vec::new(), Vec::new()).with_clients(Vec::new());
    csv.start(&SeriesNames {
        routes: vec!["api".into()],
        services: vec!["a".into()],
        edges: vec!["client->a".into(), "a->b".into()],
        clients: vec!["mobile".into()],
    });
    csv.window(&ClosedWindow {
        rows: vec![
            row(EntityKind::Route, 0),
            row(EntityKind::Service, 0),
            row(EntityKind::Edge, 1),
            row(EntityKind::Client, 0),
        ],
        ..ClosedWindow::default()
    });
    let (files, clients) = csv.finish().unwrap();
    let files = files.into_iter().chain(clients);
    for (file, (bytes, rows)) in ALL_FILES.iter().zip(files) {
        assert_eq!(rows, 1, "{}", file.name);
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], file.header);
        let columns: Vec<&str> = file.header.split(',').collect();
        let cells: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(cells.len(), columns.len(), "{}", lines[1]);
        let (values, cells) = (&columns[3..], &cells[3..]);
        for (column, cell) in values.iter().zip(cells) {
            if column.starts_with("latency_ms_") {
                assert_eq!(*cell, "", "{column}: nothing completed");
            } else {
                assert!(
                    cell.parse::<u64>().is_ok(),
                    "{}: {column} = {cell:?}",
                    file.name
                );
            }
        }
    }
}

/// A writer into a buffer the test keeps.
#[derive(Clone, Default)]
struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One line per service per window, in the header's columns; the
/// imbalance empty in a window without attempts, a name quoted.
#[test]
fn the_balance_file_has_a_row_per_service_and_window() {
    use crate::kernel::SimTime;
    use crate::metrics::InstanceRow;
    let row = |service, instance, requests, ejected_by| InstanceRow {
        service,
        instance,
        requests,
        registered: instance == 0,
        in_pools: u32::from(ejected_by == 0),
        ejected_by,
        ..InstanceRow::default()
    };
    let balance = Shared::default();
    let mut csv = CsvRecorder::new(Shared::default(), Shared::default(), Shared::default())
        .with_instances(Shared::default())
        .with_balance(balance.clone());
    csv.start(&SeriesNames {
        services: vec!["a".into(), "b,c".into()],
        ..SeriesNames::default()
    });
    let second = SimTime::from_nanos(1_000_000_000);
    csv.window(&ClosedWindow {
        start: SimTime::ZERO,
        end: second,
        instances: vec![
            row(0, 0, 3, 0),
            row(0, 1, 1, 0),
            row(1, 0, 0, 0),
            row(1, 1, 0, 1),
        ],
        ..ClosedWindow::default()
    });
    assert!(csv.finish().is_ok());
    let text = String::from_utf8(balance.0.borrow().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            BALANCE.header,
            // 3 ÷ (4 / 2).
            "0.000000,1.000000,a,2,4,1.500000,1,2,0",
            "0.000000,1.000000,\"b,c\",2,0,,1,1,1",
        ]
    );
}

/// One line per autoscaled service per window, in the header's
/// columns; the metric empty before any sync measured it.
#[test]
fn the_autoscale_file_has_a_row_per_autoscaled_service_and_window() {
    use crate::kernel::SimTime;
    use crate::metrics::autoscale::AutoscaleRow;
    let autoscale = Shared::default();
    let mut csv = CsvRecorder::new(Shared::default(), Shared::default(), Shared::default())
        .with_autoscale(autoscale.clone());
    csv.start(&SeriesNames {
        services: vec!["front".into(), "api".into()],
        ..SeriesNames::default()
    });
    let second = |s: u64| SimTime::from_nanos(s * 1_000_000_000);
    for (w, metric) in [(0, None), (1, Some(62.5))] {
        csv.window(&ClosedWindow {
            start: second(w),
            end: second(w + 1),
            autoscale: vec![AutoscaleRow {
                service: 1,
                desired: 3,
                starting: 1,
                ready: 2,
                not_ready: 0,
                down: 0,
                draining: u32::try_from(w).unwrap(),
                metric,
                requests: 40 + w,
            }],
            ..ClosedWindow::default()
        });
    }
    assert!(csv.finish().is_ok());
    let text = String::from_utf8(autoscale.0.borrow().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            AUTOSCALE.header,
            "0.000000,1.000000,api,3,1,2,0,0,0,,40",
            "1.000000,2.000000,api,3,1,2,0,0,1,62.500000,41",
        ]
    );
    let columns = AUTOSCALE.header.split(',').count();
    assert!(lines.iter().all(|l| l.split(',').count() == columns));
}

/// Without `with_autoscale`, autoscale rows are not written anywhere.
#[test]
fn autoscale_rows_need_their_file() {
    use crate::metrics::autoscale::AutoscaleRow;
    let services = Shared::default();
    let mut csv = CsvRecorder::new(Shared::default(), services.clone(), Shared::default());
    csv.start(&SeriesNames {
        services: vec!["api".into()],
        ..SeriesNames::default()
    });
    csv.window(&ClosedWindow {
        autoscale: vec![AutoscaleRow::default()],
        ..ClosedWindow::default()
    });
    let ([_, (_, service_rows), _], clients) = csv.finish().unwrap();
    assert_eq!(service_rows, 0);
    assert!(clients.is_none());
}

#[test]
fn quotes_only_what_needs_it() {
    assert_eq!(csv_field("orders"), "orders");
    assert_eq!(csv_field("a,b"), "\"a,b\"");
    assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
}
